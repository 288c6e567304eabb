"""Writes snapshots of gen_metrics.py as one OpenMetrics text for `promtool tsdb
create-blocks-from openmetrics`: snapshot k at END - (n-1-k)*STEP seconds, with
instance/job labels added, so Prometheus holds the same hour sidewatch's bench ingests.

usage: hour_om.py SNAPSHOT_DIR END_SECONDS INSTANCE [STEP_SECONDS] > hour.om
"""
import glob
import os
import sys

snaps, end, instance = sys.argv[1], int(sys.argv[2]), sys.argv[3]
step = int(sys.argv[4]) if len(sys.argv) > 4 else 15
paths = sorted(glob.glob(os.path.join(snaps, "snap_*.prom")))
out = sys.stdout
extra = 'instance="%s",job="api"' % instance
for k, p in enumerate(paths):
    ts = end - (len(paths) - 1 - k) * step
    for line in open(p):
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            name_labels = name + "{" + extra + "," + rest
        else:
            name_labels += "{" + extra + "}"
        out.write("%s %s %d\n" % (name_labels, value.strip(), ts))
out.write("# EOF\n")
