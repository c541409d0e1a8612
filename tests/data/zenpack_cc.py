"""Runs the ZenPack's Control Center paths under Zenoss's Python 2.7 with stand-ins for
Zope and servicemigration, then prints what happened, one fact a line.

The servicemigration stand-in follows control-center/service-migration (read at 1.1.17):
`ServiceContext()` (context.py) reads the tenant's services as raw JSON data and raises
`ServiceMigrationError` without an input file or a tenant id; each service is deserialized
into a `Service` (service.py) whose `configFiles`, `originalConfigs` (configfile.py:
`name`, `filename`, `content`), `healthChecks` (healthcheck.py: `name`, `script`),
`logConfigs` (logconfig.py: `path`), `volumes` (volume.py) and `endpoints` (endpoint.py:
`addressConfig`) are object lists; `commit()` serializes every service from those
attributes over a copy of its raw data, so what a step changes only in the raw data is
undone, as in the real library. `ZenPack.install` follows Products/ZenModel/ZenPack.py:
loaders, then `migrate(previousVersion)` (the steps newer than it), then
`installServices()` on a first install.

Scenes: install() on a fresh Control Center (the config on the volume, zenactiond given
zproxy); a second install keeps the administrator's config; an upgrade from 1.1.0 whose
install() runs the 1.3.0 step over a tenant holding 1.1.0's service at the root (its
config, with the administrator's customer section, in ConfigFiles) and an unrelated
`zenticket` elsewhere; the step again; the step with --ignore-service-install; the step
where no service context can be made. The var-zenpacks volume is a folder of the test.
"""

import copy
import json
import os
import sys
import types

root, volume = sys.argv[1], sys.argv[2]
sys.dont_write_bytecode = True
os.environ['CONTROLPLANE'] = '1'


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class ZenPackMigration(object):
    pass


class Version(object):
    def __init__(self, *v):
        self.v = v


def version_tuple(text):
    return tuple(int(x) for x in text.split('.'))


class ZenPackBase(object):
    """Products/ZenModel/ZenPack.py: install() runs the loaders, migrate() with the steps
    newer than the previous version (none on a first install), then installServices()."""
    ignoreServiceInstall = False
    prevZenPackVersion = None

    def install(self, app):
        prev = self.prevZenPackVersion
        if prev is not None:
            # ZenPack.migrate(): every module of migrate/ (not __*), its class of the
            # module's name, sorted by version; those at or above the previous version run.
            folder = os.path.join(root, 'ZenPacks/community/ZenTicket/migrate')
            steps = []
            for f in sorted(os.listdir(folder)):
                if f.endswith('.py') and not f.startswith('__'):
                    name = f[:-3]
                    m = __import__('ZenPacks.community.ZenTicket.migrate.' + name,
                                   fromlist=[name])
                    steps.append(getattr(m, name)())
            steps.sort(key=lambda s: s.version.v)
            for step in steps:
                if step.version.v >= version_tuple(prev):
                    step.migrate(self)
        elif not ZenPackBase.ignoreServiceInstall:
            self.installServices()

    def installServices(self):
        INSTALLED_SERVICES.append('zenticket')

    def installConfFile(self, name):
        pass

    def installBinFile(self, name):
        pass


INSTALLED_SERVICES = []
module('Globals')
module('Products')
module('Products.ZenModel')
module('Products.ZenModel.ZenPack', ZenPack=ZenPackBase, ZenPackMigration=ZenPackMigration)
module('Products.ZenModel.migrate')
module('Products.ZenModel.migrate.Migrate', Version=Version)
module('Products.ZenUtils')
module('Products.ZenUtils.Utils', zenPath=lambda *p: os.path.join('/opt/zenoss', *p))


class Facade(object):
    def updateNotificationSubscriptions(self, notification):
        pass


module('Products.Zuul', getFacade=lambda name, dmd: Facade())


# servicemigration, as its modules behave (see the docstring).
class ServiceMigrationError(Exception):
    pass


class Wrapped(object):
    """An object of the library: its raw data kept, its fields as attributes."""
    FIELDS = ()

    def __init__(self, data=None, **kw):
        self._data = copy.deepcopy(data or {})
        for attr, key, default in self.FIELDS:
            setattr(self, attr, kw.get(attr, self._data.get(key, default)))

    def serialize(self):
        d = copy.deepcopy(self._data)
        for attr, key, _ in self.FIELDS:
            d[key] = getattr(self, attr)
        return d


class Volume(Wrapped):
    FIELDS = (('owner', 'Owner', ''), ('permission', 'Permission', ''),
              ('resourcePath', 'ResourcePath', ''), ('containerPath', 'ContainerPath', ''))


class Endpoint(Wrapped):
    FIELDS = (('name', 'Name', ''), ('purpose', 'Purpose', ''), ('application', 'Application', ''),
              ('portnumber', 'PortNumber', 0), ('protocol', 'Protocol', ''),
              ('addressConfig', 'AddressConfig', {}))


class ConfigFile(Wrapped):
    FIELDS = (('filename', 'Filename', ''), ('owner', 'Owner', ''),
              ('permissions', 'Permissions', ''), ('content', 'Content', ''))


class HealthCheck(Wrapped):
    FIELDS = (('script', 'Script', ''), ('interval', 'Interval', 0))


class LogConfig(Wrapped):
    FIELDS = (('path', 'Path', ''), ('logType', 'Type', ''), ('filters', 'Filters', []))


def named(cls, data):
    """ConfigFiles and HealthChecks: a dict by name, each an object with `name`."""
    out = []
    for name, value in sorted((data or {}).items()):
        obj = cls(value)
        obj.name = name
        out.append(obj)
    return out


def unnamed(objs):
    return dict((o.name, o.serialize()) for o in objs)


class Service(object):
    def __init__(self, data):
        self._Service__data = data
        self.name = data.get('Name', '')
        self.startup = data.get('Startup', '')
        self.volumes = [Volume(v) for v in data.get('Volumes') or []]
        self.endpoints = [Endpoint(e) for e in data.get('Endpoints') or []]
        self.configFiles = named(ConfigFile, data.get('ConfigFiles'))
        self.originalConfigs = named(ConfigFile, data.get('OriginalConfigs'))
        self.healthChecks = named(HealthCheck, data.get('HealthChecks'))
        self.logConfigs = [LogConfig(l) for l in data.get('LogConfigs') or []]

    def serialize(self):
        d = copy.deepcopy(self._Service__data)
        d['Name'], d['Startup'] = self.name, self.startup
        d['Volumes'] = [v.serialize() for v in self.volumes]
        d['Endpoints'] = [e.serialize() for e in self.endpoints]
        d['ConfigFiles'] = unnamed(self.configFiles)
        d['OriginalConfigs'] = unnamed(self.originalConfigs)
        d['HealthChecks'] = unnamed(self.healthChecks)
        d['LogConfigs'] = [l.serialize() for l in self.logConfigs]
        return d


class ServiceContext(object):
    commits = []
    tenant = None

    def __init__(self, filename=None):
        if ServiceContext.tenant is None:
            raise ServiceMigrationError("Can't find migration input data.")
        self.services = [Service(copy.deepcopy(d)) for d in ServiceContext.tenant]

    def getServiceParent(self, svc):
        p = [s for s in self.services
             if s._Service__data['ID'] == svc._Service__data['ParentServiceID']]
        return p[0] if p else None

    def getServicePath(self, svc):
        parent = self.getServiceParent(svc)
        return svc.name if parent is None else self.getServicePath(parent) + '/' + svc.name

    def getTopService(self):
        svc = self.services[0]
        while self.getServiceParent(svc) is not None:
            svc = self.getServiceParent(svc)
        return svc

    def findService(self, path):
        m = [s for s in self.services if self.getServicePath(s) == path]
        return m[0] if len(m) == 1 else None

    def reparentService(self, svc, parent):
        svc._Service__data['ParentServiceID'] = parent._Service__data['ID']

    def commit(self):
        # What serviced receives: every service serialized from its attributes.
        ServiceContext.tenant = [s.serialize() for s in self.services]
        ServiceContext.commits.append(ServiceContext.tenant)


module('servicemigration', ServiceContext=ServiceContext, Volume=Volume, Endpoint=Endpoint,
       ServiceMigrationError=ServiceMigrationError, require=lambda v: None)

OLD_CONF = open(os.path.join(root, 'ZenPacks/community/ZenTicket/etc/zenticket.conf')).read()
OLD_CONF = OLD_CONF.replace('[GENERAL]', '[GENERAL]\nstatedb: /opt/zenoss/var/zenticket/zenticket.db', 1)
OLD_CONF += '\n[ACME]\nid: acme-1\nqueue: Acme NOC\ngroup1: /Acme\n'
OLD_RUNNING = "pgrep -u zenoss -f 'zenticket-hook --config /opt/zenoss/etc/zenticket.conf sweep --every'"


def svc(id, parent, name, **kw):
    d = {'ID': id, 'ParentServiceID': parent, 'Name': name}
    d.update(kw)
    return d


ZPROXY = {'Name': 'zproxy', 'Purpose': 'import', 'Application': 'zproxy', 'PortNumber': 8080,
          'Protocol': 'tcp', 'AddressConfig': {'Port': 0, 'Protocol': ''}}
TENANT_110 = [
    svc('t', '', 'Zenoss.core'),
    svc('z', 't', 'Zenoss'),
    svc('e', 'z', 'Events'),
    svc('a', 'e', 'zenactiond', Volumes=[{'Owner': 'zenoss:zenoss', 'Permission': '0775',
                                          'ResourcePath': 'var-zenpacks', 'ContainerPath': '/var/zenoss'}]),
    svc('c', 'z', 'Collection'),
    svc('x', 'c', 'zenticket', Startup="someone else's"),
    svc('old', 't', 'zenticket',
        Startup='su - zenoss -c "/opt/zenoss/bin/zenticket-hook --config /opt/zenoss/etc/zenticket.conf sweep --every"',
        Volumes=[{'Owner': 'zenoss:zenoss', 'Permission': '0750', 'ResourcePath': 'zenticket',
                  'ContainerPath': '/opt/zenoss/var/zenticket'}],
        ConfigFiles={'/opt/zenoss/etc/zenticket.conf': {
            'Filename': '/opt/zenoss/etc/zenticket.conf', 'Owner': 'zenoss:zenoss',
            'Permissions': '0664', 'Content': OLD_CONF}},
        OriginalConfigs={'/opt/zenoss/etc/zenticket.conf': {
            'Filename': '/opt/zenoss/etc/zenticket.conf', 'Owner': 'zenoss:zenoss',
            'Permissions': '0664', 'Content': '# the original'}},
        HealthChecks={'running': {'Script': OLD_RUNNING, 'Interval': 10.0}},
        LogConfigs=[{'Path': '/opt/zenoss/log/zenticket.log', 'Type': 'zenticket',
                     'Filters': ['pythondaemon']}]),
]

sys.path.insert(0, root)
import ZenPacks.community.ZenTicket as pack  # noqa: E402
pack.CC_HOME = os.path.join(volume, 'zenticket')
import ZenPacks.community.ZenTicket.migrate.ZenticketOnSharedVolume as step  # noqa: E402
step.CC_HOME = pack.CC_HOME

actions = json.load(open(os.path.join(root, 'ZenPacks/community/ZenTicket/zep/actions.json')))
shipped = actions['notifications'][0]


class Notification(object):
    def __init__(self):
        self.id, self.guid, self.action = 'zenticket', shipped['guid'], 'command'
        self.content = {'body_format': shipped['body_format'],
                        'clear_body_format': shipped['clear_body_format']}


class Subscriptions(object):
    def __init__(self, objs):
        self.objs = dict((o.id, o) for o in objs)

    def objectValues(self):
        return list(self.objs.values())


def site():
    n = Notification()
    app = type('A', (), {})()
    app.zport = type('Z', (), {})()
    app.zport.dmd = type('D', (), {})()
    app.zport.dmd.NotificationSubscriptions = Subscriptions([n])
    app.zport.dmd.Events = type('E', (), {'createOrganizer': lambda self, p: None})()
    return n, app


pack.ZenPack._remove_cron = lambda self: None
pack.ZenPack._write_cron_file = lambda self, zenhome: None
pack.ZenPack._choose_action = lambda self, app: None


def by_id(services):
    return dict((s['ID'], s) for s in services)


if len(sys.argv) > 3:
    # The state DB on MariaDB: argv[3] a global.conf naming the server's admin, argv[4]
    # the zenticket-hook binary. The volume holds the 1.3.0 config and its SQLite state DB
    # (made by the test's hooks); the tenant holds 1.3.0's service, under Zenoss/Events.
    pack.GLOBAL_CONF, pack.HOOK = sys.argv[3], sys.argv[4]
    import logging
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s',
                        stream=sys.stderr)
    tenant = [s for s in TENANT_110 if s['ID'] not in ('old', 'x')]
    tenant.append(svc('ours', 'e', 'zenticket', Endpoints=[dict(ZPROXY)]))
    ServiceContext.tenant = tenant
    ours, app = site()
    zp = pack.ZenPack()
    zp.prevZenPackVersion = '1.3.0'
    zp.install(app)
    conf = open(pack.cc_conf()).read()
    print('statedb: %s' % pack.statedb_of(conf))
    print('password file: %o' % (os.stat(os.path.join(pack.CC_HOME, 'statedb.password')).st_mode & 0o777))
    print('service imports: %s' % [e['Name'] for e in by_id(ServiceContext.tenant)['ours']['Endpoints']])
    print('zenactiond imports: %s' % [e['Application'] for e in by_id(ServiceContext.tenant)['a']['Endpoints']])
    zp = pack.ZenPack()
    zp.prevZenPackVersion = '1.4.0'
    zp.install(app)
    print('a second install keeps it: %s' % (open(pack.cc_conf()).read() == conf))
    sys.exit(0)

# A first install on a fresh Control Center: the tenant has zenactiond, not ours.
ServiceContext.tenant = [s for s in TENANT_110 if s['ID'] != 'old']
ours, app = site()
pack.ZenPack().install(app)
print('install conf: %s' % sorted(os.listdir(pack.CC_HOME)))
print('install zenactiond imports: %s' % [e['Application'] for e in by_id(ServiceContext.tenant)['a']['Endpoints']])
with open(pack.cc_conf(), 'a') as f:
    f.write('# edited by the administrator\n')
edited = open(pack.cc_conf()).read()
pack.ZenPack().install(app)
print('second install keeps the config: %s' % (open(pack.cc_conf()).read() == edited))
print('notification: %s' % ours.content['body_format'].split()[3])
print('clear: %s' % ours.content['clear_body_format'].split()[3])
installed = open(pack.cc_conf()).read()
os.remove(pack.cc_conf())

# An upgrade from 1.1.0: install() runs the 1.3.0 step, which carries the service's config.
ServiceContext.tenant = copy.deepcopy(TENANT_110)
ServiceContext.commits = []
ours, app = site()
zp = pack.ZenPack()
zp.prevZenPackVersion = '1.1.0'
zp.install(app)
carried = open(pack.cc_conf()).read()
print('upgrade carries the customer sections: %s' % ('[ACME]' in carried and 'queue: Acme NOC' in carried))
print('upgrade config is not the template: %s' % (carried != installed))
tenant = by_id(ServiceContext.tenant)
ctx = ServiceContext()
new = [s for s in ctx.services if s._Service__data['ID'] == 'old'][0]
print('path: %s' % ctx.getServicePath(new))
print('command: %s' % new.startup)
print('running: %s' % tenant['old']['HealthChecks']['running']['Script'])
print('logs: %s' % [l['Path'] for l in tenant['old']['LogConfigs']])
print('volumes: %s' % [(v.resourcePath, v.containerPath, v.permission) for v in new.volumes])
print('endpoints: %s' % [(e.name, e.application, e.portnumber, e.purpose) for e in new.endpoints])
print('config files: %s' % sorted(tenant['old']['ConfigFiles']))
print('original configs: %s' % sorted(tenant['old']['OriginalConfigs']))
print('zenactiond imports: %s' % [e['Application'] for e in tenant['a']['Endpoints']])
print('other zenticket: %s, %s' % (ctx.getServicePath([s for s in ctx.services if s._Service__data['ID'] == 'x'][0]),
                                   tenant['x']['Startup']))
print('carried conf: %s' % sorted(os.listdir(pack.CC_HOME)))

# The step again (an upgrade run twice): the tenant stays as it is.
before = json.dumps(ServiceContext.tenant, sort_keys=True)
p = type('P', (), {'prevZenPackVersion': '1.2.0'})()
step.ZenticketOnSharedVolume().migrate(p)
print('second migrate changes nothing: %s' % (json.dumps(ServiceContext.tenant, sort_keys=True) == before))

# --ignore-service-install: nothing is touched.
ServiceContext.commits = []
ZenPackBase.ignoreServiceInstall = True
step.ZenticketOnSharedVolume().migrate(p)
print('ignored: %d commit(s)' % len(ServiceContext.commits))
ZenPackBase.ignoreServiceInstall = False

# No tenant id and no input file: the step is skipped, as Zenoss's own steps skip.
ServiceContext.tenant = None
try:
    step.ZenticketOnSharedVolume().migrate(p)
    print('no service context: skipped')
except ServiceMigrationError as e:
    print('no service context: raised %s' % e)
