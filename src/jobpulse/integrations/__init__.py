"""Optional integrations; each needs its extra (``pip install 'jobpulse[<extra>]'``)."""
