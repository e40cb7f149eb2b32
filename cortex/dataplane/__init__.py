"""The data plane: how one chat request is dispatched, walked through its plan of
workers, attempted against an upstream, and continued or failed over."""
