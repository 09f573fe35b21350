"""Image datasets for mia-core: CIFAR-10/100 binary files and image folders."""
