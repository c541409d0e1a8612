"""The `zenticket` notification action: zenactiond hands the whole event to zenticket-hook,
in-process, with no shell, no TALES and no `detail` fetch.

How the event reaches the hook: Zenoss 4.2's ProcessQueue wraps the process protocol in a
decorator that does not forward `connectionMade` (Products/ZenUtils/ProcessQueue.py), so there
the protocol never gets a transport and cannot write the child's stdin; from 5.0 (ZEN-11047)
the decorator forwards it. One handover that works on every version is a file: the event is
written as JSON to a private file (a 0700 folder of the zenoss user, the file 0600), passed as
`--event-json PATH`, and removed in `processEnded`, which every version forwards, whether the
hook finished or was killed at the timeout. It runs through Zenoss's own queue: its cap
(zenactiond's maxCommands) and its timeout (the hook is SIGKILLed).

`execute` never blocks zenactiond's reactor (a small local file, then a queued process),
never mutates the signal (no `_escapeEvent`), and logs the hook's exit status and last
stderr line; a non-zero exit raises /Cmd/Failed, as a failed command notification does.
Everything that can fail before the hook is queued (the timeout, the argv as bytes, the
file) is done first, and a failure raises `ActionExecutionException`, which zenactiond
logs as a failed notification (a plain return would be logged as success); the file is
never left behind. The queue takes a slot before it spawns (`_num_running += 1`) and never
frees it if `spawnProcess` raises, so every argument handed to it is bytes.
"""

import base64
import json
import logging
import os
import re
import tempfile
import time

from zope.interface import implements

from Products.ZenModel.interfaces import IAction
from Products.ZenModel.actions import ActionExecutionException, IActionBase
from Products.ZenModel.NotificationSubscription import NotificationEventContextWrapper
from Products.ZenUtils.ProcessQueue import ProcessQueue
from Products.ZenUtils.Utils import zenPath
from twisted.internet.protocol import ProcessProtocol

from ZenPacks.community.ZenTicket.interfaces import IZenticketActionContentInfo

log = logging.getLogger('zen.ZenTicket')

ACTION_ID = 'zenticket'
# The notification's attributes, as a command notification renders them (${evt/...}).
NUMBERS = ('count', 'eventState', 'severity', 'prodState')
TEXTS = ('evid', 'device', 'ipAddress', 'component', 'summary', 'message', 'eventClass',
         'DeviceClass', 'DeviceGroups', 'DevicePriority', 'firstTime', 'lastTime')
# What may be passed raw (bytes that are not UTF-8); the hook reads these keys back.
RAW_KEY = 'zenticket_raw'
RAW_FIELDS = ('device', 'ipAddress', 'component', 'summary', 'message', 'eventClass',
              'DeviceClass', 'DeviceGroups', 'DevicePriority')
# Valid UTF-8, surrogates excluded (Python 2's codec lets them through).
UTF8 = re.compile(
    r'\A(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]'
    r'|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]'
    r'|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*\Z')


def as_bytes(value):
    """A value as the bytes it holds (unicode as UTF-8)."""
    if isinstance(value, unicode):  # noqa: F821 (Python 2)
        return value.encode('utf-8')
    return str(value)


def event_object(evt):
    """The event as the hook's --event-json reads it: the notification's names, values as
    zenactiond holds them; text that is not UTF-8 also under RAW_KEY, base64, byte for
    byte (JSON strings cannot hold it)."""
    out, raw = {}, {}
    for name in NUMBERS + TEXTS:
        value = getattr(evt, name, None)
        if value is None:
            continue
        if name in NUMBERS and isinstance(value, (int, long)):  # noqa: F821
            out[name] = value
            continue
        data = as_bytes(value)
        if UTF8.match(data):
            out[name] = data.decode('utf-8')
        else:
            out[name] = data.decode('utf-8', 'replace')
            if name in RAW_FIELDS:
                raw[name] = base64.b64encode(data)
    if raw:
        out[RAW_KEY] = raw
    return out


def event_json(evt):
    """One line of ASCII JSON (every other character escaped)."""
    return json.dumps(event_object(evt), ensure_ascii=True, sort_keys=True)


def spool_dir():
    """A folder only the zenoss user reads, for the events in flight."""
    path = zenPath('var', 'zenticket-events')
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    os.chmod(path, 0o700)
    return path


# Event files older than this are left by hooks that ran when zenactiond stopped (its queue
# is never stopped, so processEnded never came): far beyond any action timeout.
STALE_AFTER = 3600


def remove_stale(spool, now, older_than=STALE_AFTER):
    """Removes event files left in `spool` by an earlier zenactiond; returns how many."""
    removed = 0
    for name in os.listdir(spool):
        if not (name.startswith('event-') and name.endswith('.json')):
            continue
        path = os.path.join(spool, name)
        try:
            if now - os.lstat(path).st_mtime > older_than:
                os.unlink(path)
                removed += 1
        except OSError:
            pass
    return removed


def action_timeout(content):
    """The notification's action_timeout as a positive int; ValueError names it."""
    value = content.get('action_timeout')
    if value is None or value == '':
        return 60
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ValueError('action_timeout %r is not a whole number of seconds' % (value,))
    if seconds <= 0:
        raise ValueError('action_timeout %r is not a positive number of seconds' % (value,))
    return seconds


def hook_argv(config, event_file, clear):
    """The hook's argv, every element bytes (the form stores unicode; Twisted's
    spawnProcess refuses it): no shell between zenactiond and it."""
    argv = [zenPath('bin', 'zenticket-hook')]
    if config:
        argv += ['--config', config]
    argv += ['--event-json', event_file]
    if clear:
        argv.append('--clear')
    return [as_bytes(a) for a in argv]


class HookProtocol(ProcessProtocol):
    """Collects the hook's output; removes the event's file when the process ends."""

    def __init__(self, notification, event_file, evid):
        self.notification = notification
        self.event_file = event_file
        self.evid = evid
        self.out = ''
        self.err = ''

    def outReceived(self, data):
        self.out += data

    def errReceived(self, data):
        self.err += data

    def timedOut(self, reason):
        log.error('zenticket-hook for evid %s was killed at the action timeout; sweep '
                  'finishes its owed work', self.evid)
        self._event('zenticket-hook timed out', 'evid %s: killed at the action timeout' % self.evid, 4)
        return reason

    def processEnded(self, reason):
        try:
            os.unlink(self.event_file)
        except OSError:
            pass
        code = getattr(reason.value, 'exitCode', None)
        last = (self.err.strip().splitlines() or [''])[-1]
        if code == 0:
            log.info('zenticket-hook for evid %s: %s', self.evid, self.out.strip())
            self._event('zenticket-hook', 'evid %s: %s' % (self.evid, self.out.strip()), 0)
        else:
            log.error('zenticket-hook for evid %s exited %s: %s', self.evid, code, last)
            self._event('zenticket-hook failed',
                        'evid %s: exit %s: %s' % (self.evid, code, last), 4)

    def _event(self, summary, message, severity):
        """/Cmd/Failed for the notification, raised on failure and cleared on success."""
        try:
            from Products.ZenEvents.Event import Event
            eventKey = '_'.join([self.notification.action, self.notification.id])
            event = Event(device='localhost', eventClass='/Cmd/Failed',
                          summary='%s %s' % (self.notification.id, summary), message=message,
                          eventKey=eventKey, stdout=self.out, stderr=self.err,
                          severity=severity, component='zenactiond')
            self.notification.dmd.ZenEventManager.sendEvent(event)
        except Exception as e:  # never let an event about the hook break zenactiond
            log.warning('could not send the event about zenticket-hook: %s', e)


class ZenticketAction(IActionBase):
    """The notification action `zenticket`."""
    implements(IAction)

    id = ACTION_ID
    name = 'zenticket-hook (the whole event, no shell)'
    actionContentInfo = IZenticketActionContentInfo
    shouldExecuteInBatch = False

    def configure(self, options):
        super(ZenticketAction, self).configure(options)
        self.processQueue = ProcessQueue(options.get('maxCommands', 10))
        self.processQueue.start()
        try:
            removed = remove_stale(spool_dir(), time.time())
            if removed:
                log.info('zenticket: removed %d event file(s) left by hooks of an earlier '
                         'zenactiond', removed)
        except (IOError, OSError) as e:
            log.warning('zenticket: cannot clean the event folder: %s', e)

    def setupAction(self, dmd):
        pass

    def updateContent(self, content=None, data=None):
        """Copies the form's fields into the notification's content, keeping what it was
        not sent: before 5.2, IActionBase.updateContent copied a field missing from `data`
        as None, and the pack loader calls this on an upgrade with actions.json's data,
        which names no `config` (an upgrade would wipe it)."""
        data = data or {}
        for name in ('config', 'action_timeout'):
            if data.get(name) is not None:
                content[name] = data[name]

    def execute(self, notification, signal):
        evt = NotificationEventContextWrapper(signal.event)['evt']
        evid = getattr(evt, 'evid', '?')
        content = notification.content or {}

        def failed(why):
            msg = 'zenticket: cannot hand evid %s to zenticket-hook: %s' % (evid, why)
            log.error(msg)
            return ActionExecutionException(msg)

        # What can fail before the file exists is done first: nothing to clean up.
        try:
            timeout = action_timeout(content)
            config = as_bytes(content.get('config') or '')
            body = event_json(evt)
        except Exception as e:
            raise failed(e)
        path = None
        try:
            fd, path = tempfile.mkstemp(prefix='event-', suffix='.json', dir=spool_dir())
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            argv = hook_argv(config, path, bool(signal.clear))
            protocol = HookProtocol(notification, path, evid)
            self.processQueue.queueProcess(
                argv[0], tuple(argv), env=dict(os.environ),
                processProtocol=protocol,
                timeout=timeout,
                timeout_callback=protocol.timedOut)
        except Exception as e:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            raise failed(e)
