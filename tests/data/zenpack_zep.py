"""Reads the pack's zep/zep.json as Zenoss's loader does (Products/ZenModel/ZenPackLoader.py
`ZPZep`: exactly `<pack>/zep/zep.json`, every line cut at its first `//` by
`_stripComments`, then `json.loads`; `EventDetailItemHandler.load` takes the
`EventDetailItem` list and hands it to ZEP as an `EventDetailItemSet` of `{key, name,
type}`, which the console's column code reads by `name` and `type`). Prints what ZEP would
be given, or why the loader would log an error and index nothing."""

import json
import os
import sys

root = sys.argv[1]
conf = os.path.join(root, 'ZenPacks', 'community', 'ZenTicket', 'zep', 'zep.json')
with open(conf, 'r') as f:
    clean = ''.join(line.split('//', 1)[0] for line in f)
try:
    data = json.loads(clean)
except ValueError as e:
    print('the loader logs a JSON error and indexes nothing: %s' % e)
    sys.exit(0)
items = data.get('EventDetailItem')
if not items:
    print('no EventDetailItem: nothing indexed')
    sys.exit(0)
FIELDS = ('key', 'name', 'type')
for item in items:
    unknown = sorted(set(item) - set(FIELDS) - set(['description']))
    if unknown or not all(k in item for k in FIELDS):
        print('an item the EventDetailItem message cannot take: %r' % item)
        sys.exit(0)
print(json.dumps(items, sort_keys=True))
