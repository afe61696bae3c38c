"""A synthetic electrophysiology source: one probe's many channels in blocks, paced in real time.

The reference scale is one Neuropixels probe: 384 channels x 30 kHz of int16
(11.5 M samples/s, 23 MB/s), which acquisition systems hand over in blocks
every few milliseconds. :func:`ephys_source` sends such blocks
(``put_block`` with one field per channel, ``ch000`` ...), int16 or float32
as asked; :func:`ephys_rig` is a rig made of it::

    rigbook --rig rigbook.session.synthetic_ephys:ephys_rig

The signal is noise plus spikes from a fixed pool of samples, so a reader
can check every value: sample ``i`` of channel ``c`` is
:func:`expected_block` ``(i, i + 1, ...)``. Qt-free; the source function is
module-level, so spawned processes can import it.
"""

import time

import numpy as np

#: samples in the pool the signal repeats (a whole number of blocks of any
#: size dividing it; 1 s at 30 kHz)
POOL_SAMPLES = 30_000
DTYPES = ("int16", "float32")
#: microvolts per int16 step (Neuropixels 1.0 at gain 500: about 2.34 uV)
UV_PER_STEP = 2.34


def channel_names(channels):
    """Field names of the channels: ``ch000``, ``ch001``, ..."""
    width = max(3, len(str(channels - 1)))
    return [f"ch{c:0{width}d}" for c in range(channels)]


def signal_pool(channels, dtype="int16", seed=0):
    """The (channels, :data:`POOL_SAMPLES`) block the signal repeats: noise, spikes, a slow wave."""
    dtype = _check_dtype(dtype)
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 8.0, size=(channels, POOL_SAMPLES))
    wave = 40.0 * np.sin(2 * np.pi * 4.0 * np.arange(POOL_SAMPLES) / POOL_SAMPLES * 8)
    steps += wave * np.linspace(1.0, 0.2, channels)[:, None]
    spike = -120.0 * np.exp(-np.arange(30) / 6.0) * np.sin(np.arange(30) / 3.0 + 0.5)
    for c in range(channels):
        for start in rng.integers(0, POOL_SAMPLES - 30, size=40):
            steps[c, start : start + 30] += spike * rng.uniform(0.5, 1.5)
    if dtype == np.int16:
        return np.clip(np.round(steps), -32768, 32767).astype(np.int16)
    return (steps * UV_PER_STEP).astype(np.float32)


def expected_block(start, stop, channels, dtype="int16", seed=0, pool=None):
    """Samples ``[start, stop)`` as the source sends them: a (channels, n) array."""
    pool = signal_pool(channels, dtype, seed) if pool is None else pool
    index = np.arange(start, stop) % POOL_SAMPLES
    return pool[:, index]


def ephys_source(queue, stop_event, channels=384, rate=30000.0, dtype="int16", block_samples=600, seed=0,
                 max_samples=None, paced=True):
    """Send blocks of ``channels`` fields until ``stop_event`` is set (or ``max_samples`` were sent).

    Parameters
    ----------
    queue : NamedTupleQueue
    stop_event : multiprocessing.Event
    channels : int
        Fields per sample, named by :func:`channel_names`.
    rate : float
        Samples per second per channel; sample ``i`` is stamped
        ``start + i / rate`` (``time.monotonic()`` seconds).
    dtype : str
        ``"int16"`` (raw steps) or ``"float32"`` (microvolts).
    block_samples : int
        Samples per block (600 = 20 ms at 30 kHz); must divide :data:`POOL_SAMPLES`.
    seed : int
        Seed of the signal pool.
    max_samples : int, optional
        Stop after this many samples (then the queue is flushed).
    paced : bool
        Send each block when its last sample is due (real time); False sends
        as fast as the queue takes them.
    """
    if POOL_SAMPLES % block_samples:
        raise ValueError(f"block_samples {block_samples} must divide {POOL_SAMPLES}")
    pool = signal_pool(channels, dtype, seed)
    names = channel_names(channels)
    rate = float(rate)
    offsets = np.arange(block_samples) / rate
    start = time.monotonic()
    sent = 0
    while not stop_event.is_set() and (max_samples is None or sent < max_samples):
        n = block_samples if max_samples is None else min(block_samples, max_samples - sent)
        times = start + sent / rate + offsets[:n]
        if paced:
            wait = times[-1] - time.monotonic()
            if wait > 0:
                stop_event.wait(wait)
        lo = sent % POOL_SAMPLES
        queue.put_block(times, {name: pool[c, lo : lo + n] for c, name in enumerate(names)}, name="Probe")
        sent += n
    queue.close()


def ephys_rig(channels=384, rate=30000.0, dtype="int16"):
    """A rig with one synthetic probe (``probe``: ``channels`` x ``rate`` Hz of ``dtype``)."""
    from rigbook.session.rig import Rig, Source

    _check_dtype(dtype)
    return Rig(
        name="synthetic ephys",
        sources=[
            Source(
                name="probe",
                target=ephys_source,
                options=dict(channels=int(channels), rate=float(rate), dtype=str(dtype)),
                goal_rate=float(rate),
                monitored_headers=channel_names(int(channels))[:16],
                category="ephys",
            ),
        ],
    )


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.name not in DTYPES:
        raise ValueError(f"ephys dtype {dtype.name!r} is not one of {', '.join(DTYPES)}")
    return dtype
