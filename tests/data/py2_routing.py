# Prints what Python 2.7's ConfigParser (the zenticket daemon's reader) makes of a
# zenticket.conf: per customer section, id, queue and the set groupN values in N order.
# Run by tests/config_py2.rs with Python 2.7; compiles under Python 3 too.
import json
import re
import sys

try:
    import ConfigParser as cp
except ImportError:  # Python 3: not the reference, refuse to pretend
    sys.stderr.write("needs Python 2.7\n")
    sys.exit(3)

c = cp.ConfigParser()
try:
    c.read([sys.argv[1]])
except Exception as e:
    print(json.dumps({"error": type(e).__name__}))
    sys.exit(0)

out = []
for s in c.sections():
    if s.startswith("GENERAL") or s in ("FILTERS", "ZENOSS"):
        continue
    try:
        groups = sorted((int(o[5:]), o) for o in c.options(s) if re.match(r"^group\d+$", o))
        vals = [c.get(s, o) for _, o in groups]
        out.append({
            "section": s,
            "id": c.get(s, "id"),
            "queue": c.get(s, "queue"),
            "groups": [v for v in vals if v != "None"],
        })
    except Exception as e:
        out.append({"section": s, "error": type(e).__name__})
print(json.dumps({"customers": out}))
