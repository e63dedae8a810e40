"""The emotion model: serving (``load_classifier``) is light; training lives in submodules.

Importing this package never imports TensorFlow or Keras, so a worker install needs
no training stack.
"""

from models.classifier import EmotionClassifier, load_classifier

__all__ = ["EmotionClassifier", "load_classifier"]
