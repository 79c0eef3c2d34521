"""Neural style transfer (Gatys et al. 2016): VGG-19 features and image loading for notebook 10.

Import the parts directly, for example ``from course_lib.style.features import VGGFeatures`` and
``from course_lib.style.images import load_image``; this package file imports nothing, so that
``import course_lib.style`` stays cheap.
"""
