"""The domain of replyloop: types, rules, settings and the SQL store.

Nothing here imports torch, transformers, Celery or a platform SDK.
"""
