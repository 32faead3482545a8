"""Dynamic batching: concurrent requests with the same decoding settings are
decoded together in one `hypotheses` call, run on one worker thread so the
event loop keeps answering while the model works.

A batch starts with the oldest waiting request and takes the requests that
arrive within `max_wait` seconds (or are already waiting), while the batch
stays within `max_sentences` sentences and `max_tokens` source pieces. One
request is never split, so a single large request makes a batch of its own.
"""

import asyncio
import collections
import concurrent.futures
import dataclasses

Job = collections.namedtuple("Job", ("sentences", "tokens", "settings", "future"))


@dataclasses.dataclass(frozen=True)
class Settings:
    """The decoding settings a batch shares: requests merge only when equal."""

    beam: int
    length_penalty: float
    n_best: int
    attention: bool


class DynamicBatcher:
    """Merges concurrent translation requests into batched `hypotheses` calls.

    Args:
        translator: a `TrainedTranslator` (anything with its `hypotheses` and
            `attention` methods).
        max_sentences: the most sentences in one batch.
        max_tokens: the most source pieces in one batch.
        max_wait: seconds a batch waits for more requests after its first.

    Example:
    >>> import asyncio
    >>> class Upper:
    ...     def hypotheses(self, sentences, beam=1, length_penalty=0.0, n_best=1):
    ...         return [s.upper() for s in sentences]
    >>> async def two_requests():
    ...     batcher = DynamicBatcher(Upper())
    ...     settings = Settings(beam=1, length_penalty=0.0, n_best=1, attention=False)
    ...     both = await asyncio.gather(batcher.submit(["a"], 1, settings),
    ...                                 batcher.submit(["b", "c"], 2, settings))
    ...     batcher.close()
    ...     return both, batcher.batches
    >>> asyncio.run(two_requests())
    ([(['A'], None), (['B', 'C'], None)], 1)
    """

    def __init__(self, translator, max_sentences=64, max_tokens=2048, max_wait=0.005):
        self.translator = translator
        self.max_sentences = max_sentences
        self.max_tokens = max_tokens
        self.max_wait = max_wait
        # Batches decoded so far.
        self.batches = 0
        # One thread: the model and its compiled functions are not shared
        # between threads, and one decode at a time uses all the cores anyway.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="translate"
        )
        self._queue = None
        self._task = None
        self._held = collections.deque()

    async def submit(self, sentences, tokens, settings):
        """Translates `sentences` (`tokens` source pieces in all) with
        `settings` in the next batch that fits; returns `(translations,
        attention maps or None)`."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(Job(list(sentences), tokens, settings, future))
        return await future

    def close(self):
        """Stops the batching task and the worker thread; waiting requests
        get a `RuntimeError`."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for job in self._held:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _next(self, timeout=None):
        if self._held:
            return self._held.popleft()
        if not self._queue.empty():  # Waiting requests join even when time is up.
            return self._queue.get_nowait()
        if timeout is None:
            return await self._queue.get()
        return await asyncio.wait_for(self._queue.get(), max(timeout, 0.0))

    async def _run(self):
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._next()]
            deadline = loop.time() + self.max_wait
            passed = []
            while True:
                try:
                    job = await self._next(deadline - loop.time())
                except asyncio.TimeoutError:
                    break
                if job.settings != batch[0].settings or not self._fits(batch, job):
                    passed.append(job)
                    if job.settings == batch[0].settings:
                        break
                    continue
                batch.append(job)
            # Requests passed over go first next time, in their order.
            self._held.extendleft(reversed(passed))
            await self._decode(loop, batch)

    def _fits(self, batch, job):
        sentences = sum(len(j.sentences) for j in batch) + len(job.sentences)
        tokens = sum(j.tokens for j in batch) + job.tokens
        return sentences <= self.max_sentences and tokens <= self.max_tokens

    async def _decode(self, loop, batch):
        sentences = [s for job in batch for s in job.sentences]
        try:
            texts, maps = await loop.run_in_executor(
                self._executor, self._translate, sentences, batch[0].settings
            )
        except Exception as error:  # Each waiting request gets the error.
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        self.batches += 1
        start = 0
        for job in batch:
            end = start + len(job.sentences)
            if not job.future.done():  # A client that went away.
                job.future.set_result(
                    (texts[start:end], None if maps is None else maps[start:end])
                )
            start = end

    def _translate(self, sentences, settings):
        options = dict(beam=settings.beam, length_penalty=settings.length_penalty)
        found = self.translator.hypotheses(sentences, n_best=settings.n_best, **options)
        if not settings.attention:
            return found, None
        maps = [
            self.translator.attention(s, **options) if s.strip() else None
            for s in sentences
        ]
        return found, maps
