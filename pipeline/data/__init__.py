"""Getting and preparing data: downloads, IDX parsing, MNIST, text."""
