"""The emotion model as the workers serve it: ``load_classifier`` and the committed artifact.

Importing this package never imports TensorFlow or Keras, so a worker install needs no
training stack. Training (``models.training``) and research (``models.experiments``) run from
a source checkout through ``python -m models COMMAND``; the serving wheel carries neither.
"""

from models.classifier import EmotionClassifier, load_classifier

__all__ = ["EmotionClassifier", "load_classifier"]
