"""`replyloop serve web`: the web console (FastAPI), on the same store and broker as
every other process. Each page is a router of its own (overview, replies, models, export,
chat); access.py says who may see and do what."""
