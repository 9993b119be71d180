"""PyTensor models in the style of the Theano tutorials.

Importing this package sets PyTensor's ``floatX`` to float32, the precision every
model here is trained in.
"""

import pytensor

pytensor.config.floatX = "float32"
