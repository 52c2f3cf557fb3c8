"""Wide&Deep (Cheng et al. 2016) on plain Keras 3 layers, after the keras-io example: a linear wide part on the
crossed features, a deep part on embeddings of ids and categories plus dense features; one logit. TensorFlow /
Keras are imported lazily (only when a model is built)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.recsys.features import CATEGORICAL, CROSSES, DENSE


class Vocab:
    """String categories -> ints (0 = unseen) per column, learnt on the training frame."""

    def __init__(self, frame: pd.DataFrame, columns, min_count: int = 1):
        self.index = {}
        for col in columns:
            counts = frame[col].astype(str).value_counts()
            self.index[col] = pd.Index(sorted(counts[counts >= min_count].index))

    def encode(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {col: (idx.get_indexer(frame[col].astype(str)) + 1).astype("int32") for col, idx in self.index.items()}

    def size(self, col: str) -> int:
        return len(self.index[col]) + 1


def _inputs(vocab: Vocab, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    x = vocab.encode(frame)
    x["dense"] = frame[DENSE].to_numpy(np.float32)
    return x


class WideDeep:
    """Binary ranker of (user, merchant) candidates; `fit` on sampled negatives, early stopping on validation."""

    name = "wide_deep"

    def __init__(self, embedding_dim: int = 16, hidden: tuple = (64, 32), dropout: float = 0.1,
                 learning_rate: float = 3e-3, epochs: int = 8, batch_size: int = 1024, patience: int = 2,
                 l2: float = 0.0, id_embeddings: bool = True, min_delta: float = 0.0, seed: int = 0):
        self.embedding_dim, self.hidden, self.dropout = int(embedding_dim), tuple(hidden), float(dropout)
        self.learning_rate, self.epochs, self.batch_size = float(learning_rate), int(epochs), int(batch_size)
        self.patience, self.seed, self.l2, self.min_delta = int(patience), int(seed), float(l2), float(min_delta)
        self.categorical = [c for c in CATEGORICAL if id_embeddings or c not in ("client_id", "merchant_id")]

    def _build(self, train: pd.DataFrame):
        import keras
        from keras import layers

        keras.utils.set_random_seed(self.seed)
        self.vocab = Vocab(train, self.categorical + CROSSES)
        ins = {c: keras.Input(shape=(), dtype="int32", name=c) for c in self.categorical + CROSSES}
        ins["dense"] = keras.Input(shape=(len(DENSE),), name="dense")
        norm = layers.Normalization(name="dense_norm")
        norm.adapt(train[DENSE].to_numpy(np.float32))
        dense = norm(ins["dense"])
        reg = keras.regularizers.L2(self.l2) if self.l2 else None
        wide = [layers.Embedding(self.vocab.size(c), 1, embeddings_regularizer=reg, name=f"wide_{c}")(ins[c])
                for c in CROSSES]
        wide = layers.Add(name="wide")(wide + [layers.Dense(1, name="wide_dense")(dense)])
        deep = [layers.Embedding(self.vocab.size(c), self.embedding_dim, embeddings_regularizer=reg,
                                 name=f"emb_{c}")(ins[c]) for c in self.categorical]
        h = layers.Concatenate()(deep + [dense])
        for i, units in enumerate(self.hidden):
            h = layers.Dense(units, activation="relu", name=f"deep_{i}")(h)
            h = layers.Dropout(self.dropout, seed=self.seed + i)(h)
        logit = layers.Add(name="logit")([wide, layers.Dense(1, name="deep_out")(h)])
        out = layers.Activation("sigmoid", name="p")(logit)
        model = keras.Model(ins, out)
        # no per-batch metric (an AUC here only slowed every epoch; nothing read it): the loss is what stops
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss="binary_crossentropy",
                      jit_compile=False)  # XLA's compile costs more than it saves on these small epochs
        return model

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame):
        """`train` / `valid`: pair_features frames with a 0/1 `label`. Stops when the validation loss has not
        improved (by `min_delta`) for `patience` epochs, or at the cap `epochs`; either way the weights of the best
        epoch (`best_epoch`, 1-based) are restored; `stopped_early` says whether validation, not the cap, ended it."""
        import keras

        self.model = self._build(train)
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience, min_delta=self.min_delta,
                                             restore_best_weights=True)
        hist = self.model.fit(_inputs(self.vocab, train), train["label"].to_numpy(np.float32),
                              validation_data=(_inputs(self.vocab, valid), valid["label"].to_numpy(np.float32)),
                              epochs=self.epochs, batch_size=self.batch_size, callbacks=[stop], verbose=0)
        self.history = pd.DataFrame(hist.history)
        self.best_epoch = int(stop.best_epoch) + 1  # the epoch whose weights were restored
        self.stopped_early = bool(stop.stopped_epoch > 0)
        self._wide_weights()
        return self

    def _wide_weights(self):
        self.wide = {}
        for c in CROSSES:
            w = self.model.get_layer(f"wide_{c}").get_weights()[0].ravel()
            self.wide[c] = pd.Series(w[1:], index=self.vocab.index[c])

    def predict(self, frame: pd.DataFrame, batch_size: int = 8192) -> np.ndarray:
        return self.model.predict(_inputs(self.vocab, frame), batch_size=batch_size, verbose=0).ravel()

    def wide_contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each row's wide-part weight per crossed feature (0 for crosses unseen in training)."""
        return pd.DataFrame({c: frame[c].astype(str).map(self.wide[c]).fillna(0.0).to_numpy() for c in CROSSES},
                            index=frame.index)
