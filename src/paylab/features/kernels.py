"""Numba sweeps over rows grouped by entity and ordered by (timestamp, transaction_id) inside each group.

`starts` holds the first row of every group plus the total length. Row i of a group only sees rows [.., i).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def window_stats(starts, ts, amount, merch, mcc, flag, width, n_merch, n_mcc):
    """Per row: count, sum, max, distinct merchants, distinct MCCs and flagged rows (`flag` 0/1) of the earlier rows
    with ts > ts[i] - width."""
    n = ts.size
    cnt = np.zeros(n, np.int64)
    total = np.zeros(n, np.float64)
    top = np.full(n, np.nan)
    n_m = np.zeros(n, np.int64)
    n_c = np.zeros(n, np.int64)
    n_f = np.zeros(n, np.int64)
    seen_m = np.zeros(n_merch, np.int64)
    seen_c = np.zeros(n_mcc, np.int64)
    dq = np.empty(n, np.int64)  # monotonic deque of row indices, amounts decreasing
    for g in range(starts.size - 1):
        lo, hi = starts[g], starts[g + 1]
        left, head, tail = lo, lo, lo
        s, comp, dm, dc, df = 0.0, 0.0, 0, 0, 0
        for i in range(lo, hi):
            if i > lo:  # row i - 1 enters the window
                j = i - 1
                s, comp = _add(s, comp, amount[j])
                seen_m[merch[j]] += 1
                dm += seen_m[merch[j]] == 1
                seen_c[mcc[j]] += 1
                dc += seen_c[mcc[j]] == 1
                df += flag[j]
                while tail > head and amount[dq[tail - 1]] <= amount[j]:
                    tail -= 1
                dq[tail] = j
                tail += 1
            while left < i and ts[left] <= ts[i] - width:  # row `left` leaves
                s, comp = _add(s, comp, -amount[left])
                seen_m[merch[left]] -= 1
                dm -= seen_m[merch[left]] == 0
                seen_c[mcc[left]] -= 1
                dc -= seen_c[mcc[left]] == 0
                df -= flag[left]
                left += 1
            while head < tail and dq[head] < left:
                head += 1
            cnt[i] = i - left
            if cnt[i] == 0:
                s, comp = 0.0, 0.0
            total[i] = s + comp
            n_m[i] = dm
            n_c[i] = dc
            n_f[i] = df
            if head < tail:
                top[i] = amount[dq[head]]
        for j in range(left, hi - 1):  # leave the counters clean for the next group
            seen_m[merch[j]] -= 1
            seen_c[mcc[j]] -= 1
    return cnt, total, top, n_m, n_c, n_f


@njit(cache=True)
def _add(s, comp, x):
    """Neumaier compensated addition: the running window sum stays exact to ~1 ulp."""
    t = s + x
    if abs(s) >= abs(x):
        comp += (s - t) + x
    else:
        comp += (x - t) + s
    return t, comp


@njit(cache=True)
def sequence_stats(starts, amount, online, merch, n_last):
    """Per row, over the group's last `n_last` earlier rows: mean amount, OLS trend, share online, merchant changes."""
    n = amount.size
    mean = np.full(n, np.nan)
    trend = np.full(n, np.nan)
    share = np.full(n, np.nan)
    change = np.full(n, np.nan)
    for g in range(starts.size - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            a = max(lo, i - n_last)
            k = i - a
            if k == 0:
                continue
            s, o = 0.0, 0.0
            for j in range(a, i):
                s += amount[j]
                o += online[j]
            mean[i] = s / k
            share[i] = o / k
            if k < 2:
                continue
            num, changes, mid = 0.0, 0, (k - 1) / 2.0
            for p in range(k):
                num += (p - mid) * (amount[a + p] - mean[i])
                if p > 0 and merch[a + p] != merch[a + p - 1]:
                    changes += 1
            trend[i] = num / (k * (k * k - 1) / 12.0)
            change[i] = changes / (k - 1)
    return mean, trend, share, change


@njit(cache=True)
def running_moments(starts, ts, amount):
    """Per row: count, sum and sum of squares of the group's earlier amounts; microseconds since the previous row."""
    n = ts.size
    cnt = np.zeros(n, np.int64)
    s = np.zeros(n, np.float64)
    ss = np.zeros(n, np.float64)
    gap = np.full(n, -1, np.int64)
    for g in range(starts.size - 1):
        lo, hi = starts[g], starts[g + 1]
        a, b = 0.0, 0.0
        for i in range(lo, hi):
            cnt[i], s[i], ss[i] = i - lo, a, b
            if i > lo:
                gap[i] = ts[i] - ts[i - 1]
            a += amount[i]
            b += amount[i] * amount[i]
    return cnt, s, ss, gap


@njit(cache=True)
def known_counts(starts, ts, fraud, labeled, lag):
    """Per row: frauds and labels among the group's rows with ts <= ts[i] - lag (lag > 0)."""
    n = ts.size
    f = np.zeros(n, np.int64)
    lab = np.zeros(n, np.int64)
    for g in range(starts.size - 1):
        lo, hi = starts[g], starts[g + 1]
        p, cf, cl = lo, 0, 0
        for i in range(lo, hi):
            while p < i and ts[p] <= ts[i] - lag:
                cf += fraud[p]
                cl += labeled[p]
                p += 1
            f[i], lab[i] = cf, cl
    return f, lab
