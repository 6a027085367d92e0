"""Hot topics and surge warnings (热点分析, 预警) over the tickets; see docs/topics.md."""
