"""Load DIET's and TED's TensorFlow models in half the time, to the same weights.

Rasa 3.6 builds a model's variables before restoring them by running one *training* step
(``RasaModel.load``: ``compile``, ``fit`` on one example, ``load_weights``). Tracing that step's
graph — the forward pass, its gradients and Adam's update — was most of a model load: 29 s of a
Rasa server's start on this machine, paid again by every worker, every hot swap and every
``rasa test`` (cProfile, bench/RESULTS.md "Model load"). Only the forward pass creates variables,
so here it alone is traced (as a ``tf.function``, so that both branches of TED's ``tf.cond`` build
their layers), Adam's slots are created from the trainable variables, and the weights are
restored with ``assert_consumed``: every value of the checkpoint must land in a variable of the
same shape, and every variable must get one. Whatever does not fit that — a model Kefu never saw, a
future Rasa — raises, and Rasa's own load runs instead, so the loaded model is never partial.
Fine-tuning (``rasa train --finetune``) keeps Rasa's load: it continues the optimizer's state.
"""
from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

_rasa_load = None  # RasaModel.load as Rasa defines it, kept for the fallback


def _build(cls, model_file_name, model_data_example, args, kwargs):
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    config = kwargs.get("config", {})
    model = cls(*args, **kwargs)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                  run_eagerly=config.get(RUN_EAGERLY))
    batch_in, _ = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]  # what Rasa's fit reads first
    model._training = True  # as in Rasa's train_step
    tf.function(model.batch_loss)(batch_in)
    model._training = None
    model.optimizer.build(model.trainable_variables)
    model.load_weights(model_file_name).assert_consumed()
    return model


def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
         *args, **kwargs):
    """``RasaModel.load`` with the forward pass alone building the variables (same signature)."""
    if finetune_mode:
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                          *args, **kwargs)
    try:
        model = _build(cls, model_file_name, model_data_example, args, kwargs)
    except Exception as error:  # noqa: BLE001 (any mismatch: Rasa's own load decides)
        logger.warning("model.load.fallback model=%s reason=%s", cls.__name__, f"{type(error).__name__}: {error}"[:300])
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                          *args, **kwargs)
    if predict_data_example:
        model.run_inference(predict_data_example)  # traces the prediction graph now, as Rasa's load does
    return model


def install() -> None:
    """Replace ``RasaModel.load`` in this process (and the workers it forks); idempotent."""
    global _rasa_load
    from rasa.utils.tensorflow.models import RasaModel

    if _rasa_load is None:
        _rasa_load = RasaModel.load.__func__
        RasaModel.load = classmethod(load)
