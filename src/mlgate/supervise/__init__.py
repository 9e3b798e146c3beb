"""Process supervision at the edge: the preloading fork server and the launcher every dvc.yaml
cmd runs. Imports only the standard library and mlgate.base."""
