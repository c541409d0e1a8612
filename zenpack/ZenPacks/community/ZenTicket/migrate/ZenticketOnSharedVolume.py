"""Moves the zenticket service of pack 1.1.0 onto the volume zenactiond mounts.

1.1.0's service read /opt/zenoss/etc/zenticket.conf from its own ConfigFiles and kept its
state DB on its own volume, while the hooks in zenactiond's container read the image's
config and a DB lost at each restart: two state DBs. From 1.2.0 both read
/var/zenoss/zenticket/zenticket.conf on the var-zenpacks volume. This step carries the
service's config there (its text as the administrator last saved it, the state DB and log
paths moved beside it) unless one is there already; drops the ConfigFiles and
OriginalConfigs entries through the objects' lists (servicemigration's Service.serialize()
rebuilds ConfigFiles from `configFiles` at commit: a key popped from the raw data comes
back); points the command, the `running` health check and the log config at the new
paths; mounts var-zenpacks; imports zproxy; and puts the service under Zenoss/Events
beside zenactiond. The old volume stays mounted where it was, so its state DB can still be
read.

It also gives zenactiond a zproxy import (as Zenoss's own AddEndpointsToZenjobs does for
zenjobs), so the hooks in its container reach Zope at http://localhost:8080 like the
service: no address that resolves only in users' hosts files.
"""

import logging
import os
import re

from Products.ZenModel.migrate.Migrate import Version
from Products.ZenModel.ZenPack import ZenPackMigration

from ZenPacks.community.ZenTicket import CC_HOME, cc_conf
from ZenPacks.community.ZenTicket.migrate.AddZenticketService import (
    our_services, service_context)

log = logging.getLogger('zen.ZenTicket')

OLD_CONF = '/opt/zenoss/etc/zenticket.conf'
OLD_DB = '/opt/zenoss/var/zenticket/zenticket.db'
OLD_LOG = '/opt/zenoss/log/zenticket.log'
COMMAND = ('su - zenoss -c "/opt/zenoss/bin/zenticket-hook --config %s sweep --every"')
RUNNING = "pgrep -u zenoss -f 'zenticket-hook --config %s sweep --every'"


def zproxy_import(sm):
    """The zproxy import, as service_definition/zenticket.json and Zenoss's
    AddEndpointsToZenjobs declare it."""
    return sm.Endpoint(name='zproxy', purpose='import', application='zproxy',
                       portnumber=8080, protocol='tcp')


def imports(svc, application):
    return [e for e in svc.endpoints if e.purpose == 'import' and e.application == application]


def carried_conf(text):
    """1.1.0's service config with its state DB and log on the shared volume."""
    text = text.replace(OLD_DB, CC_HOME + '/zenticket.db')
    text = re.sub(r'(?m)^logfile\s*[:=].*$', 'logfile: ' + CC_HOME + '/zenticket.log', text)
    if not re.search(r'(?m)^logfile\s*[:=]', text):
        text = re.sub(r'(?m)^\[GENERAL\][^\n]*$',
                      lambda m: m.group(0) + '\nlogfile: ' + CC_HOME + '/zenticket.log',
                      text, count=1)
    return text


def upgrade(ctx, svc, sm):
    target = cc_conf()
    old = [cf for cf in svc.configFiles if cf.name == OLD_CONF or cf.filename == OLD_CONF]
    svc.configFiles = [cf for cf in svc.configFiles if cf not in old]
    svc.originalConfigs = [cf for cf in svc.originalConfigs
                           if not (cf.name == OLD_CONF or cf.filename == OLD_CONF)]
    if not os.path.isdir(CC_HOME):
        os.makedirs(CC_HOME, 0o750)
    content = old[0].content if old else ''
    if content and not os.path.exists(target):
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, 'w') as f:
            f.write(carried_conf(content))
        log.info('carried the zenticket service config to %s', target)
    svc.startup = COMMAND % target
    for hc in svc.healthChecks:
        if hc.name == 'running':
            hc.script = RUNNING % target
    for lc in svc.logConfigs:
        if lc.path == OLD_LOG:
            lc.path = CC_HOME + '/zenticket.log'
    if not [v for v in svc.volumes if v.resourcePath == 'var-zenpacks']:
        svc.volumes.append(sm.Volume(owner='zenoss:zenoss', permission='0775',
                                     resourcePath='var-zenpacks', containerPath='/var/zenoss'))
    if not imports(svc, 'zproxy'):
        svc.endpoints.append(zproxy_import(sm))
    top = ctx.getTopService()
    events = ctx.findService(top.name + '/Zenoss/Events')
    if events is not None and ctx.getServiceParent(svc) is not events:
        ctx.reparentService(svc, events)


def zenactiond_reaches_zope(ctx, sm):
    """zenactiond imports zproxy (once): the hooks it runs use http://localhost:8080."""
    changed = False
    for svc in ctx.services:
        if svc.name == 'zenactiond' and not imports(svc, 'zproxy'):
            svc.endpoints.append(zproxy_import(sm))
            changed = True
    return changed


class ZenticketOnSharedVolume(ZenPackMigration):

    version = Version(1, 3, 0)

    def migrate(self, pack):
        ctx = service_context()
        if ctx is None:
            return
        import servicemigration as sm
        services = our_services(ctx) if pack.prevZenPackVersion is not None else []
        for svc in services:
            upgrade(ctx, svc, sm)
        if zenactiond_reaches_zope(ctx, sm) or services:
            ctx.commit()
        if services:
            log.info('the zenticket service now reads %s on the var-zenpacks volume', cc_conf())


ZenticketOnSharedVolume()
