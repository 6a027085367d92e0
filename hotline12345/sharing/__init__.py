"""Department feeds (信息共享): ticket events pushed to the departments that handle them.

One outbox (:mod:`.outbox`) written in the transition's transaction; three ways to receive
it: signed webhooks and Redis Streams (:mod:`.sender`, in ``serve``) and the pull API
(:mod:`.pull`, ``GET /api/feed``). See docs/feeds.md.
"""
