"""What notebooks show: figures and image grids, explorers with live sliders, source listings."""
