"""The three churn models: LightGBM on the aggregates (baseline), a small Keras LSTM on the weekly sequence (plus
the aggregates as a side input) and the hybrid (the LSTM's out-of-fold logit as a GBM feature). TensorFlow is
imported only inside the LSTM functions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylab.churn.panel import WEEK_FEATURES

LSTM_FEATURE = "lstm_logit"


# --- gradient boosting ------------------------------------------------------------------------------------------

def fit_gbm(x: pd.DataFrame, y: np.ndarray, params: dict, seed: int):
    """A LightGBM classifier (binary) on the frame `x`."""
    import lightgbm as lgb

    model = lgb.LGBMClassifier(random_state=seed, verbose=-1, deterministic=True, force_row_wise=True,
                               n_jobs=int(params.get("n_jobs", 1)),
                               **{k: v for k, v in params.items() if k != "n_jobs"})
    return model.fit(x, np.asarray(y, dtype=int))


def predict_gbm(model, x: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(x)[:, 1]


# --- sequence inputs ----------------------------------------------------------------------------------------------

def sequence_scaler(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per channel of log1p(|x|) over unmasked training weeks."""
    x = seq[seq[:, :, 0] >= 0]
    z = np.log1p(np.abs(x))
    return z.mean(0), z.std(0) + 1e-6


def scale_sequence(seq: np.ndarray, scaler) -> np.ndarray:
    """Standardised log1p channels; weeks before the user's first payment stay at the mask value 0 on every
    channel (a real week is never all-zero after scaling as its channels are shifted by their means)."""
    mean, std = scaler
    z = (np.log1p(np.abs(seq)) - mean) / std
    z[seq[:, :, 0] < 0] = 0.0
    return z.astype("float32")


def side_scaler(x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    z = np.sign(x.to_numpy(float)) * np.log1p(np.abs(x.to_numpy(float)))
    return z.mean(0), z.std(0) + 1e-6


def scale_side(x: pd.DataFrame, scaler) -> np.ndarray:
    z = np.sign(x.to_numpy(float)) * np.log1p(np.abs(x.to_numpy(float)))
    return ((z - scaler[0]) / scaler[1]).astype("float32")


# --- the LSTM ----------------------------------------------------------------------------------------------------

def build_lstm(weeks: int, n_side: int, units: int = 16, dense: int = 16, dropout: float = 0.1,
               learning_rate: float = 3e-3):
    """Masking -> LSTM(units) on the weekly sequence, concatenated with the side inputs -> Dense -> sigmoid."""
    import keras

    seq_in = keras.Input((weeks, len(WEEK_FEATURES)), name="sequence")
    side_in = keras.Input((n_side,), name="side")
    h = keras.layers.Masking(mask_value=0.0)(seq_in)
    h = keras.layers.LSTM(units, name="lstm")(h)
    h = keras.layers.Concatenate()([h, side_in])
    h = keras.layers.Dense(dense, activation="relu")(h)
    h = keras.layers.Dropout(dropout)(h)
    out = keras.layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model([seq_in, side_in], out)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    return model


def fit_lstm(seq: np.ndarray, side: np.ndarray, y: np.ndarray, params: dict, seed: int,
             valid: tuple | None = None):
    """Fit with early stopping on `valid` ((seq, side, y)) or on a seeded 15% of the rows when none is given."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_lstm(seq.shape[1], side.shape[1], units=int(params.get("units", 16)),
                       dense=int(params.get("dense", 16)), dropout=float(params.get("dropout", 0.1)),
                       learning_rate=float(params.get("learning_rate", 3e-3)))
    y = np.asarray(y, dtype="float32")
    if valid is None:
        rng = np.random.default_rng(seed)
        hold = rng.random(len(y)) < 0.15
        valid = ([seq[hold], side[hold]], y[hold])
        seq, side, y = seq[~hold], side[~hold], y[~hold]
    else:
        valid = ([valid[0], valid[1]], np.asarray(valid[2], dtype="float32"))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(params.get("patience", 3)),
                                         restore_best_weights=True)
    history = model.fit([seq, side], y, validation_data=valid, epochs=int(params.get("epochs", 20)),
                        batch_size=int(params.get("batch_size", 256)), callbacks=[stop], verbose=0, shuffle=True)
    model.history_ = history.history
    return model


def predict_lstm(model, seq: np.ndarray, side: np.ndarray) -> np.ndarray:
    return model.predict([seq, side], batch_size=2048, verbose=0).ravel().astype(float)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def out_of_fold_lstm(seq: np.ndarray, side: np.ndarray, y: np.ndarray, groups: np.ndarray, params: dict,
                     seed: int, n_folds: int = 2) -> np.ndarray:
    """LSTM probabilities of the training rows, each from a model fitted on the other users' folds (no row's own
    label reaches its hybrid feature)."""
    users = np.unique(groups)
    fold_of = dict(zip(users, np.random.default_rng(seed).permutation(len(users)) % n_folds, strict=True))
    fold = np.array([fold_of[g] for g in groups])
    out = np.empty(len(y))
    for f in range(n_folds):
        m = fit_lstm(seq[fold != f], side[fold != f], y[fold != f], params, seed + 1 + f)
        out[fold == f] = predict_lstm(m, seq[fold == f], side[fold == f])
    return out
