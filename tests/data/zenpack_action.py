"""Runs the pack's `zenticket` action as zenactiond would, under Zenoss's Python 2.7, with
stand-ins that follow Zenoss's code: a signal carrying an EventSummary-shaped event, the
NotificationEventContextWrapper's names and forms (Products/ZenModel/NotificationSubscription.py),
and a ProcessQueue that behaves as Products/ZenUtils/ProcessQueue.py does: at most
`parallel` processes, the protocol wrapped so that only outReceived, errReceived and
processEnded reach it (never connectionMade: no transport, the child's stdin never
closed), SIGKILL at the timeout. The real zenticket-hook runs.

argv: pack root, ZENHOME, a JSON file with the event's fields (text as base64), and the
mode: `new`, `clear` or `timeout`. Prints one JSON object of what happened.
"""

import base64
import copy
import json
import os
import signal as signals
import subprocess
import sys
import time
import types

root, zenhome, fields_file, mode = sys.argv[1:5]
sys.dont_write_bytecode = True
os.environ['ZENHOME'] = zenhome


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class Interface(object):
    pass


class ZenPackBase(object):
    pass


module('Globals')
zope = module('zope')
zope.interface = module('zope.interface', implements=lambda *a: None, Interface=Interface)


class ZopeField(object):
    """A zope.schema field: title, description, default, required; no `xtype`."""

    def __init__(self, title=u'', description=u'', default=None, required=True, **kw):
        self.title, self.description = title, description
        self.default, self.required = default, required


class ZopeTextLine(ZopeField):
    pass


class ZopeInt(ZopeField):
    pass


zope.schema = module('zope.schema', TextLine=ZopeTextLine, Int=ZopeInt)


def mixed_in(klass, xtype):
    """Products/Zuul/form/schema.py: zope's field with FieldMixin's `xtype` (and
    `required` False by default), which Products/Zuul/form/builder.py reads."""
    def init(self, xtype=xtype, required=False, **kw):
        klass.__init__(self, required=required, **kw)
        self.xtype = xtype
    return type(klass.__name__, (klass,), {'__init__': init})


zuul_schema = types.ModuleType('Products.Zuul.form.schema')
zuul_schema.TextLine = mixed_in(ZopeTextLine, 'textfield')
zuul_schema.Int = mixed_in(ZopeInt, 'numberfield')
module('zope.component')
module('Products')
module('Products.ZenModel')
module('Products.ZenModel.interfaces', IAction=Interface)
module('Products.ZenModel.ZenPack', ZenPack=ZenPackBase)


class IActionBase(object):
    def configure(self, options):
        self.options = options

    def updateContent(self, content=None, data=None):
        # Products/ZenModel/actions.py, 4.2.5 to 5.1: every field of the action's form
        # copied as data.get(k), so a field not sent becomes None (5.2 on skips None).
        fields = [k for k, v in vars(self.actionContentInfo).items() if isinstance(v, ZopeField)]
        content.update(dict((k, data.get(k)) for k in fields))


class ActionExecutionException(Exception):
    pass


module('Products.ZenModel.actions', IActionBase=IActionBase,
       ActionExecutionException=ActionExecutionException)
module('Products.ZenUtils')
module('Products.ZenUtils.Utils', zenPath=lambda *p: os.path.join(zenhome, *p))
module('Products.Zuul')
module('Products.Zuul.interfaces')
module('Products.Zuul.interfaces.actions', IActionContentInfo=Interface)
module('Products.Zuul.form', schema=zuul_schema)
sys.modules['Products.Zuul.form.schema'] = zuul_schema
module('Products.Zuul.utils', ZuulMessageFactory=lambda s: s)


class ProcessProtocol(object):
    transport = None


module('twisted')
module('twisted.internet')
module('twisted.internet.protocol', ProcessProtocol=ProcessProtocol)

STATUS = {0: 'New', 1: 'Acknowledged'}


def local(ms):
    t = time.localtime(ms / 1000.0)
    return time.strftime('%Y/%m/%d %H:%M:%S', t) + '.%03d' % (ms % 1000)


class Evt(object):
    """The notification's `evt`: old names, notification forms."""


def wrapper(summary):
    occ = summary.occurrence[0]
    details = dict((d.name, d.value) for d in occ.details)
    evt = Evt()
    evt.evid = summary.uuid
    evt.count = summary.count
    evt.eventState = summary.status
    evt.severity = occ.severity
    evt.prodState = int(details['zenoss.device.production_state'][0])
    evt.DevicePriority = details['zenoss.device.priority'][0]
    evt.device = occ.actor.element_identifier
    evt.component = occ.actor.element_sub_identifier
    evt.ipAddress = details['zenoss.device.ip_address'][0]
    evt.summary = occ.summary
    evt.message = occ.message
    evt.eventClass = occ.event_class
    evt.DeviceClass = details['zenoss.device.device_class'][0]
    evt.DeviceGroups = '|' + '|'.join(details['zenoss.device.groups'])
    evt.firstTime = local(summary.first_seen_time)
    evt.lastTime = local(summary.last_seen_time)
    return {'evt': evt}


module('Products.ZenModel.NotificationSubscription', NotificationEventContextWrapper=wrapper)

queued = []


def check_process_args(args):
    """twisted/internet/base.py `_checkProcessArgs` (Python 2): a unicode argument is encoded
    with the filesystem encoding (ASCII under zenactiond's C locale); one that does not
    encode, or is no string, raises TypeError."""
    for arg in args:
        if isinstance(arg, unicode):  # noqa: F821
            try:
                arg = arg.encode('ascii')
            except UnicodeEncodeError:
                raise TypeError('Arguments contain a non-string value')
        if not isinstance(arg, str) or '\0' in arg:
            raise TypeError('Arguments contain a non-string value')


class ProcessQueue(object):
    """As Zenoss's (Products/ZenUtils/ProcessQueue.py): a FIFO; `_processQueue` takes a slot
    (`_num_running += 1`) and then spawns, so a spawn that raises keeps the slot for good;
    the protocol decorator forwards out/err/processEnded only. Run synchronously here."""

    def __init__(self, parallel=10):
        self.parallel = parallel
        self._processes = []
        self._started = False
        self._num_running = 0

    def start(self):
        self._started = True

    def queueProcess(self, executable, args=(), env={}, path=None, uid=None, gid=None,
                     usePTY=0, childFDs=None, processProtocol=None, timeout=60,
                     timeout_callback=None):
        self._processes.append((executable, args, env, processProtocol, timeout,
                                timeout_callback))
        if self._started:
            self._processQueue()

    def _processQueue(self):
        if self._num_running < self.parallel and self._processes:
            job = self._processes.pop(0)
            self._num_running += 1
            self._spawn(*job)
            self._num_running -= 1

    def _spawn(self, executable, args, env, processProtocol, timeout, timeout_callback):
        check_process_args(args)
        queued.append({'executable': executable, 'args': list(args), 'timeout': timeout,
                       'event_json': open(args[args.index('--event-json') + 1]).read(),
                       'file_mode': oct(os.stat(args[args.index('--event-json') + 1]).st_mode & 0o777)})
        # stdin is a pipe nobody closes: a child reading it waits until the timeout.
        p = subprocess.Popen(list(args), executable=executable, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        start = time.time()
        while p.poll() is None and time.time() - start < timeout:
            time.sleep(0.02)
        reason_value = type('R', (), {})()
        if p.poll() is None:
            os.kill(p.pid, signals.SIGKILL)
            p.wait()
            if timeout_callback:
                timeout_callback('timeout')
            reason_value.exitCode = None
        else:
            reason_value.exitCode = p.returncode
        out, err = p.communicate()
        processProtocol.outReceived(out)
        processProtocol.errReceived(err)
        reason = type('Reason', (), {})()
        reason.value = reason_value
        processProtocol.processEnded(reason)


module('Products.ZenUtils.ProcessQueue', ProcessQueue=ProcessQueue)
sent_events = []
module('Products.ZenEvents')
module('Products.ZenEvents.Event', Event=lambda **k: k)


class Obj(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return repr(sorted(self.__dict__.items()))


registry = {}
module('zope.component', queryUtility=lambda iface, name: registry.get(name),
       provideUtility=lambda obj, iface, name: registry.__setitem__(name, obj))
sys.path.insert(0, root)
import ZenPacks.community.ZenTicket.actions as actions  # noqa: E402

if mode == 'form':
    # The notification editor's Content tab: builder.py renders each field of the
    # interface by its `xtype`; a field without one is an empty panel, never saved.
    from ZenPacks.community.ZenTicket.interfaces import IZenticketActionContentInfo as I
    fields = dict((k, v) for k, v in vars(I).items() if isinstance(v, ZopeField))
    print(json.dumps(dict((k, getattr(v, 'xtype', None)) for k, v in fields.items()),
                     sort_keys=True))
    sys.exit(0)

if mode == 'update':
    # IActionBase.updateContent before 5.2 copies each field as data.get(k); the pack
    # loader calls the action's with actions.json's data on an upgrade.
    a = actions.ZenticketAction()
    content = {'config': '/var/zenoss/zenticket/zenticket.conf', 'action_timeout': 120,
               'body_format': 'exec ...'}
    a.updateContent(content, {'body_format': 'exec new', 'action_timeout': None})
    kept = dict(content)
    a.updateContent(content, {'config': '/etc/other.conf', 'action_timeout': 30})
    print(json.dumps({'loader': kept, 'form': content}, sort_keys=True))
    sys.exit(0)

if mode == 'upgrade':
    # An upgrade as Zenoss runs it: ZenPack.install() runs the loaders, and the
    # notifications loader (ZenPackLoader.ZPTriggerAction) calls
    # TriggersFacade.updateNotification with actions.json's notification, which sets
    # each of the notification's _properties from it, calls the action's updateContent
    # with the same data, and sets recipients to data.get('recipients', []).
    import ZenPacks.community.ZenTicket as pack
    shipped = json.load(open(os.path.join(root, 'ZenPacks/community/ZenTicket/zep/actions.json')))['notifications'][0]
    action = actions.ZenticketAction()
    n = Obj(id='zenticket', guid=shipped['guid'], action='zenticket', enabled=False,
            send_clear=False, send_initial_occurrence=True, delay_seconds=300,
            repeat_seconds=3600, recipients=[{'type': 'user', 'value': 'admin-guid'}],
            content={'config': '/var/zenoss/zenticket/zenticket.conf', 'action_timeout': 120,
                     'body_format': 'old command', 'clear_body_format': 'old clear'},
            _p_changed=False)
    subs = Obj(objectValues=lambda: [n])
    app = Obj(zport=Obj(dmd=Obj(NotificationSubscriptions=subs,
                                Events=Obj(createOrganizer=lambda p: None))))
    told = []
    module('Products.Zuul', getFacade=lambda name, dmd: Obj(
        updateNotificationSubscriptions=lambda note: told.append(note.delay_seconds)))

    def loader_install(self, app):
        data = dict(shipped)
        for prop in ('enabled', 'send_clear', 'send_initial_occurrence', 'delay_seconds',
                     'repeat_seconds'):
            setattr(n, prop, data.get(prop))
        action.updateContent(n.content, data)
        n.content.update(dict((k, data.get(k)) for k in ('body_format', 'clear_body_format')))
        n.recipients = data.get('recipients', [])

    ZenPackBase.install = loader_install
    for name in ('installConfFile', 'installBinFile', '_remove_cron', '_write_cron_file',
                 '_start_daemon', '_choose_action'):
        setattr(pack.ZenPack, name, lambda self, *a: None)
    os.environ['CONTROLPLANE'] = '1'
    zp = pack.ZenPack()
    zp.prevZenPackVersion = '1.2.0'
    zp.install(app)
    print(json.dumps({
        'settings': [n.enabled, n.send_clear, n.send_initial_occurrence, n.delay_seconds,
                     n.repeat_seconds, n.recipients],
        'content': [n.content.get('config'), n.content.get('action_timeout')],
        'commands are the pack\'s': n.content['body_format'] != 'old command',
        'zep told': told,
    }, sort_keys=True))
    sys.exit(0)

if mode == 'choose':
    # How install() decides: a first install switches the pack's notification to the
    # native action; an upgrade keeps the notification's action; where the action's API
    # is missing (an old Zenoss), the command notification stays.
    import ZenPacks.community.ZenTicket as pack
    shipped = json.load(open(os.path.join(root, 'ZenPacks/community/ZenTicket/zep/actions.json')))['notifications'][0]

    def site(action):
        n = Obj(id='zenticket', guid=shipped['guid'], action=action,
                content={'body_format': shipped['body_format'], 'action_timeout': 60})
        subs = Obj(objectValues=lambda: [n])
        return n, Obj(zport=Obj(dmd=Obj(NotificationSubscriptions=subs)))

    seen = {}
    n, app = site('command')
    zp = pack.ZenPack()
    zp.prevZenPackVersion = None
    zp._choose_action(app)
    seen['first install'] = [n.action, n.content.get('config'), sorted(registry)]
    n, app = site('command')
    zp.prevZenPackVersion = '1.2.0'
    zp._choose_action(app)
    seen['upgrade, command kept'] = n.action
    n, app = site('zenticket')
    zp._choose_action(app)
    seen['upgrade, native kept'] = n.action
    del sys.modules['Products.ZenModel.interfaces']
    sys.modules.pop('ZenPacks.community.ZenTicket.actions', None)
    n, app = site('command')
    zp.prevZenPackVersion = None
    registry.clear()
    zp._choose_action(app)
    seen['old zenoss'] = n.action
    pack.use_action(n, 'native', '/etc/zt.conf')
    seen['switched'] = [n.action, n.content['config']]
    pack.use_action(n, 'command')
    seen['switched back'] = [n.action, n.content['body_format'] == shipped['body_format']]
    print(json.dumps(seen, sort_keys=True))
    sys.exit(0)

f = json.load(open(fields_file))
text = lambda k: base64.b64decode(f[k])  # noqa: E731
detail = lambda name, values: Obj(name=name, value=values)  # noqa: E731
occurrence = Obj(
    summary=text('summary'), message=text('message'), severity=f['severity'],
    event_class=text('eventClass'),
    actor=Obj(element_identifier=text('device'), element_sub_identifier=text('component')),
    details=[detail('zenoss.device.production_state', [str(f['prodState'])]),
             detail('zenoss.device.priority', [str(f['priority'])]),
             detail('zenoss.device.ip_address', [text('ip')]),
             detail('zenoss.device.device_class', [text('deviceClass')]),
             detail('zenoss.device.groups', [base64.b64decode(g) for g in f['groups']])])
event = Obj(uuid=f['evid'], count=f['count'], status=f['state'], occurrence=[occurrence],
            first_seen_time=int(f['first'] * 1000), last_seen_time=int(f['last'] * 1000))
sig = Obj(event=event, clear=(mode == 'clear'), clear_event=None)
before = repr(sig)
manager = Obj(sendEvent=sent_events.append)
config = os.path.join(zenhome, 'etc', 'zenticket.conf')
timeout = {'timeout': 1, 'badtimeout': 'sixty'}.get(mode, 60)
if mode == 'unicodeconfig':
    # The form stores unicode; a path that is not ASCII.
    copy_to = os.path.join(zenhome, 'etc', 'zentick\xc3\xa9t.conf')
    open(copy_to, 'w').write(open(config).read())
    config = copy_to.decode('utf-8')
notification = Obj(id='zenticket', action='zenticket', dmd=Obj(ZenEventManager=manager),
                   content={'config': config, 'action_timeout': timeout})
spool = os.path.join(zenhome, 'var', 'zenticket-events')
if mode == 'stale':
    # Files of hooks that ran when an earlier zenactiond stopped, and one of a hook of
    # another instance running now.
    if not os.path.isdir(spool):
        os.makedirs(spool, 0o700)
    for name, age in (('event-old.json', 7200), ('event-now.json', 5), ('notes.txt', 7200)):
        path = os.path.join(spool, name)
        open(path, 'w').write('{}')
        os.utime(path, (time.time() - age, time.time() - age))

action = actions.ZenticketAction()
action.configure({'maxCommands': 3})
if mode == 'nospool':
    os.rmdir(spool)
    open(spool, 'w').write('not a folder')
raised = None
try:
    action.execute(notification, sig)
except Exception as e:
    raised = [type(e).__name__, str(e)]
print(json.dumps({
    'queued': queued,
    'raised': raised,
    'running': action.processQueue._num_running,
    'spool_left': sorted(os.listdir(spool)) if os.path.isdir(spool) else None,
    'spool_mode': oct(os.stat(spool).st_mode & 0o777),
    'signal_unchanged': repr(sig) == before,
    'events': [{'summary': e['summary'], 'severity': e['severity'],
                'eventClass': e['eventClass']} for e in sent_events],
    'parallel': action.processQueue.parallel,
}))
