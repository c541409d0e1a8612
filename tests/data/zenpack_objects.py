"""Runs the ZenPack's notification code with stand-ins for Zope, as Zenoss's Python 2.7
would import it: a site where the administrator already has a notification called
`zenticket`, so the loader named the pack's `zenticket_1`. Prints what was touched."""

import json
import os
import sys
import types

root = sys.argv[1]
sys.dont_write_bytecode = True  # the pack folder is the repository's


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class ZenPackBase(object):
    def install(self, app):
        pass

    def remove(self, app, leaveObjects=False):
        pass


module('Globals')
module('Products')
module('Products.ZenModel')
module('Products.ZenModel.ZenPack', ZenPack=ZenPackBase)
module('Products.ZenUtils')
module('Products.ZenUtils.Utils', zenPath=lambda *p: os.path.join('/usr/local/zenoss', *p))


class Facade(object):
    def removeTrigger(self, uuid):
        pass


module('Products.Zuul', getFacade=lambda name, dmd: Facade())


class Notification(object):
    def __init__(self, id, guid, body):
        self.id = id
        self.guid = guid
        self.content = {'body_format': body, 'clear_body_format': body}


class Subscriptions(object):
    def __init__(self, objs):
        self.objs = dict((o.id, o) for o in objs)

    def objectValues(self):
        return list(self.objs.values())

    def _getOb(self, id, default=None):
        return self.objs.get(id, default)

    def _delObject(self, id):
        del self.objs[id]


sys.path.insert(0, root)
import ZenPacks.community.ZenTicket as pack  # noqa: E402

actions = json.load(open(os.path.join(root, 'ZenPacks/community/ZenTicket/zep/actions.json')))
shipped = actions['notifications'][0]
admins = Notification('zenticket', '5c1f0e2a-0000-4000-8000-000000000001',
                      '/usr/local/bin/page-oncall ${evt/evid}')
ours = Notification('zenticket_1', shipped['guid'], shipped['body_format'])
dmd = types.SimpleNamespace() if hasattr(types, 'SimpleNamespace') else type('D', (), {})()
dmd.NotificationSubscriptions = Subscriptions([admins, ours])
app = type('A', (), {})()
app.zport = type('Z', (), {})()
app.zport.dmd = dmd

zp = pack.ZenPack()
zp._localize_notification(app, '/usr/local/zenoss')
touched = [n.id for n in dmd.NotificationSubscriptions.objectValues()
           if '/usr/local/zenoss/' in n.content['body_format']]
print('localized: %s' % ', '.join(touched))
print("admin's command: %s" % admins.content['body_format'])
print("pack's command: %s" % ' '.join(ours.content['body_format'].split()[:2]))
zp._remove_notification_and_trigger(app)
print('removed: %s' % ('zenticket_1' if 'zenticket_1' not in dmd.NotificationSubscriptions.objs else '-'))
print('left: %s' % ', '.join(sorted(dmd.NotificationSubscriptions.objs)))
