"""Events: the Segment half of the platform.

- :mod:`~cdp_pipelines.events.collector` (with :mod:`messages`, :mod:`plans`,
  :mod:`journal`, :mod:`openapi`, :mod:`server`): the HTTP collector that Segment and
  RudderStack libraries send to; it checks tracking plans and durably writes rolling
  files under ``landing/events/<source>/``.
- :mod:`~cdp_pipelines.events.load` and :mod:`~cdp_pipelines.events.assets`: closed
  landing files into Delta domain tables, deduplicated by ``messageId``.

Nothing here imports FastAPI at package import: definitions load without it.
"""
