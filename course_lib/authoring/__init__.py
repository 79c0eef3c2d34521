"""Tools for the people who write and publish the course (slides, student editions, notebook
execution, environment checks). Students never import these; the notebooks do not either."""
