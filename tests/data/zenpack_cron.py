"""Runs the ZenPack's crontab handling under Zenoss's Python 2.7 with a stand-in `crontab`
on PATH (it answers `-l` as CRONTAB_MODE says and records what `-` is given), and writes
the fallback cron file for a ZENHOME. Prints what happened, one line a case."""

import logging
import os
import sys
import types

root, work = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class ZenPackBase(object):
    pass


module('Globals')
module('Products')
module('Products.ZenModel')
module('Products.ZenModel.ZenPack', ZenPack=ZenPackBase)
module('Products.ZenUtils')
module('Products.ZenUtils.Utils', zenPath=lambda *p: os.path.join(work, *p))

warnings = []


class Catch(logging.Handler):
    def emit(self, record):
        warnings.append(record.levelname + ' ' + record.getMessage())


logging.getLogger('zen.ZenTicket').addHandler(Catch())
logging.getLogger('zen.ZenTicket').setLevel(logging.INFO)

fake = os.path.join(work, 'bin', 'crontab')
if not os.path.isdir(os.path.dirname(fake)):
    os.makedirs(os.path.dirname(fake))
with open(fake, 'w') as f:
    f.write('''#!/bin/sh
case "$1" in
-l)
  case "$CRONTAB_MODE" in
  none) echo "no crontab for zenoss" >&2; exit 1 ;;
  denied) echo "crontab: cannot open /var/spool/cron/crontabs/zenoss: Permission denied" >&2; exit 1 ;;
  ours) printf '%s\\n' 'MAILTO=ops' '# BEGIN ZenPacks.community.ZenTicket' '* * * * * old sweep' '# END ZenPacks.community.ZenTicket' '0 3 * * * backup' ;;
  other) printf '%s\\n' 'MAILTO=ops' '0 3 * * * backup' ;;
  esac ;;
-) cat > "$CRONTAB_WRITTEN" ;;
esac
''')
os.chmod(fake, 0o755)
os.environ['PATH'] = os.path.dirname(fake) + os.pathsep + os.environ.get('PATH', '')

sys.path.insert(0, root)
import ZenPacks.community.ZenTicket as pack  # noqa: E402

zp = pack.ZenPack()
for mode in ['none', 'denied', 'ours', 'other']:
    written = os.path.join(work, 'written-' + mode)
    os.environ['CRONTAB_MODE'] = mode
    os.environ['CRONTAB_WRITTEN'] = written
    del warnings[:]
    zp._remove_cron()
    text = open(written).read() if os.path.exists(written) else None
    print('%s: written %r; logged %r' % (mode, text, [str(w.split(';')[0]) for w in warnings]))

os.makedirs(os.path.join(work, 'etc'))
zp._write_cron_file(work)
print(open(os.path.join(work, 'etc', 'zenticket.cron')).read())
