"""Runs the ZenPack's Control Center paths under Zenoss's Python 2.7 with stand-ins for
Zope and servicemigration (shaped as control-center/service-migration's ServiceContext,
Service, Volume and Endpoint): install() with CONTROLPLANE=1, then the 1.2.0 migrate step
over a tenant holding pack 1.1.0's service at the root and an unrelated `zenticket`
elsewhere, then the same step with --ignore-service-install. The var-zenpacks volume is a
folder of the test (CC_HOME moved into it). Prints what happened, one fact a line."""

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


class ZenPackBase(object):
    ignoreServiceInstall = False

    def install(self, app):
        pass

    def installConfFile(self, name):
        pass

    def installBinFile(self, name):
        pass


class ZenPackMigration(object):
    pass


class Version(object):
    def __init__(self, *v):
        self.v = v


module('Globals')
module('Products')
module('Products.ZenModel')
module('Products.ZenModel.ZenPack', ZenPack=ZenPackBase, ZenPackMigration=ZenPackMigration)
module('Products.ZenModel.migrate')
module('Products.ZenModel.migrate.Migrate', Version=Version)
module('Products.ZenUtils')
module('Products.ZenUtils.Utils', zenPath=lambda *p: os.path.join('/opt/zenoss', *p))
module('Products.Zuul', getFacade=lambda name, dmd: None)


# servicemigration, as its context.py, service.py, volume.py and endpoint.py behave.
class Volume(object):
    def __init__(self, owner='', permission='', resourcePath='', containerPath=''):
        self.owner, self.permission = owner, permission
        self.resourcePath, self.containerPath = resourcePath, containerPath


class Endpoint(object):
    def __init__(self, name='', purpose='', application='', portnumber=0, protocol='',
                 addressConfig=None):
        self.name, self.purpose, self.application = name, purpose, application
        self.portnumber, self.protocol = portnumber, protocol
        self.addressconfig = addressConfig  # sic: serialize reads addressConfig


class Service(object):
    def __init__(self, id, parent, name, startup='', volumes=(), endpoints=(), files=None):
        self._Service__data = {'ID': id, 'ParentServiceID': parent, 'Name': name,
                               'ConfigFiles': files}
        self._Service__clone = False
        self.name, self.startup = name, startup
        self.volumes, self.endpoints = list(volumes), list(endpoints)


class ServiceContext(object):
    committed = 0

    def __init__(self):
        self.services = copy.deepcopy(TENANT)

    def getServiceParent(self, svc):
        p = [s for s in self.services if s._Service__data['ID'] == svc._Service__data['ParentServiceID']]
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
        ServiceContext.committed += 1
        global COMMITTED
        COMMITTED = self.services


module('servicemigration', ServiceContext=ServiceContext, Volume=Volume, Endpoint=Endpoint,
       require=lambda v: None)

OLD_CONF = open(os.path.join(root, 'ZenPacks/community/ZenTicket/etc/zenticket.conf')).read()
OLD_CONF = OLD_CONF.replace('[GENERAL]', '[GENERAL]\nstatedb: /opt/zenoss/var/zenticket/zenticket.db', 1)
TENANT = [
    Service('t', None, 'Zenoss.core'),
    Service('z', 't', 'Zenoss'),
    Service('e', 'z', 'Events'),
    Service('a', 'e', 'zenactiond', volumes=[Volume('zenoss:zenoss', '0775', 'var-zenpacks', '/var/zenoss')]),
    Service('c', 'z', 'Collection'),
    Service('x', 'c', 'zenticket', startup='someone else\'s'),
    Service('old', 't', 'zenticket',
            startup='su - zenoss -c "/opt/zenoss/bin/zenticket-hook --config /opt/zenoss/etc/zenticket.conf sweep --every"',
            volumes=[Volume('zenoss:zenoss', '0750', 'zenticket', '/opt/zenoss/var/zenticket')],
            files={'/opt/zenoss/etc/zenticket.conf': {'FileName': '/opt/zenoss/etc/zenticket.conf',
                                                      'Content': OLD_CONF}}),
]

sys.path.insert(0, root)
import ZenPacks.community.ZenTicket as pack  # noqa: E402
pack.CC_HOME = os.path.join(volume, 'zenticket')
import ZenPacks.community.ZenTicket.migrate.ZenticketOnSharedVolume as step  # noqa: E402
step.CC_HOME = pack.CC_HOME

# install() with CONTROLPLANE=1: the one config on the volume, the notification at it.
actions = json.load(open(os.path.join(root, 'ZenPacks/community/ZenTicket/zep/actions.json')))
shipped = actions['notifications'][0]


class Notification(object):
    def __init__(self):
        self.id, self.guid = 'zenticket', shipped['guid']
        self.content = {'body_format': shipped['body_format'],
                        'clear_body_format': shipped['clear_body_format']}


class Subscriptions(object):
    def __init__(self, objs):
        self.objs = dict((o.id, o) for o in objs)

    def objectValues(self):
        return list(self.objs.values())


ours = Notification()
app = type('A', (), {})()
app.zport = type('Z', (), {})()
app.zport.dmd = type('D', (), {})()
app.zport.dmd.NotificationSubscriptions = Subscriptions([ours])
app.zport.dmd.Events = type('E', (), {'createOrganizer': lambda self, p: None})()
pack.ZenPack._remove_cron = lambda self: None
pack.ZenPack._write_cron_file = lambda self, zenhome: None
pack.ZenPack().install(app)
print('install conf: %s' % sorted(os.listdir(pack.CC_HOME)))
# A second install keeps the administrator's config, byte for byte.
with open(pack.cc_conf(), 'a') as f:
    f.write('# edited by the administrator\n')
edited = open(pack.cc_conf()).read()
pack.ZenPack().install(app)
print('second install keeps the config: %s' % (open(pack.cc_conf()).read() == edited))
print('notification: %s' % ours.content['body_format'].split()[3])
print('clear: %s' % ours.content['clear_body_format'].split()[3])
os.rename(pack.cc_conf(), pack.cc_conf() + '.installed')

# The 1.2.0 step over 1.1.0's tenant.
p = type('P', (), {'prevZenPackVersion': '1.1.0'})()
step.ZenticketOnSharedVolume().migrate(p)
svcs = dict((s._Service__data['ID'], s) for s in COMMITTED)
ctx = ServiceContext()
ctx.services = COMMITTED
new = svcs['old']
print('path: %s' % ctx.getServicePath(new))
print('command: %s' % new.startup)
print('volumes: %s' % [(v.resourcePath, v.containerPath, v.permission) for v in new.volumes])
print('endpoints: %s' % [(e.name, e.application, e.portnumber, e.purpose) for e in new.endpoints])
print('config files: %s' % sorted(new._Service__data['ConfigFiles']))
print('other zenticket: %s, %s' % (ctx.getServicePath(svcs['x']), svcs['x'].startup))
print('carried conf: %s' % sorted(os.listdir(pack.CC_HOME)))

# The step again (an upgrade run twice): the service stays as it is.
TENANT = COMMITTED
before = [(x._Service__data['ParentServiceID'], x.startup, len(x.volumes), len(x.endpoints))
          for x in COMMITTED]
step.ZenticketOnSharedVolume().migrate(p)
after = [(x._Service__data['ParentServiceID'], x.startup, len(x.volumes), len(x.endpoints))
         for x in COMMITTED]
print('second migrate changes nothing: %s' % (before == after))

# --ignore-service-install: nothing is touched.
ServiceContext.committed = 0
ZenPackBase.ignoreServiceInstall = True
step.ZenticketOnSharedVolume().migrate(p)
print('ignored: %d commit(s)' % ServiceContext.committed)
