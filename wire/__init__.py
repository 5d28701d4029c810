"""What travels between processes: the Celery app and its reliability settings, the queue
names, one typed message per task with its sender, publishing, and the live-text channel.

Bots and workers both depend on this package; it imports neither, and never torch."""
