"""Every data set the course uses: MNIST (with offline fallbacks), MNIST-M, 2-D toy mixtures,
cartoon faces and their domains, paired edges and faces, and the paintings of notebook 10.

Import from the module that defines a name (``from course_lib.data.mnist import load_mnist``): this
package file imports nothing, so importing one data set never loads the others.
"""
