"""Moves the zenticket service of pack 1.1.0 onto the volume zenactiond mounts.

1.1.0's service read /opt/zenoss/etc/zenticket.conf from its own ConfigFiles and kept its
state DB on its own volume, while the hooks in zenactiond's container read the image's
config and a DB lost at each restart: two state DBs. From 1.2.0 both read
/var/zenoss/zenticket/zenticket.conf on the var-zenpacks volume. This step carries the
service's config there (its text as the administrator last saved it, the state DB and log
paths moved beside it) unless one is there already, drops the ConfigFiles entry (serviced
would otherwise keep writing the old file), points the command at the new config, mounts
var-zenpacks, imports zproxy, and puts the service under Zenoss/Events beside zenactiond.
The old volume stays mounted where it was, so its state DB can still be read.
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
COMMAND = ('su - zenoss -c "/opt/zenoss/bin/zenticket-hook --config %s sweep --every"')


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
    data = svc._Service__data
    files = data.get('ConfigFiles') or {}
    old = files.pop(OLD_CONF, None)
    data['ConfigFiles'] = files
    target = cc_conf()
    if not os.path.isdir(CC_HOME):
        os.makedirs(CC_HOME, 0o750)
    if old and old.get('Content') and not os.path.exists(target):
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, 'w') as f:
            f.write(carried_conf(old['Content']))
        log.info('carried the zenticket service config to %s', target)
    svc.startup = COMMAND % target
    if not [v for v in svc.volumes if v.resourcePath == 'var-zenpacks']:
        svc.volumes.append(sm.Volume(owner='zenoss:zenoss', permission='0775',
                                     resourcePath='var-zenpacks', containerPath='/var/zenoss'))
    if not [e for e in svc.endpoints if e.name == 'zproxy']:
        ep = sm.Endpoint(name='zproxy', purpose='import', application='zproxy',
                         portnumber=8080, protocol='tcp')
        if not hasattr(ep, 'addressConfig'):
            ep.addressConfig = ep.addressconfig
        svc.endpoints.append(ep)
    top = ctx.getTopService()
    events = ctx.findService(top.name + '/Zenoss/Events')
    if events is not None and ctx.getServiceParent(svc) is not events:
        ctx.reparentService(svc, events)


class ZenticketOnSharedVolume(ZenPackMigration):

    version = Version(1, 2, 0)

    def migrate(self, pack):
        if pack.prevZenPackVersion is None:
            return  # a first install: the service definition has it all
        ctx = service_context()
        if ctx is None:
            return
        import servicemigration as sm
        services = our_services(ctx)
        for svc in services:
            upgrade(ctx, svc, sm)
        if services:
            ctx.commit()
            log.info('the zenticket service now reads %s on the var-zenpacks volume', cc_conf())


ZenticketOnSharedVolume()
