"""The form the notification editor shows for the `zenticket` action.

Zenoss's form builder (Products/Zuul/form/builder.py) reads each field's `xtype`, which only
the field classes of Products/Zuul/form/schema.py carry (plain zope.schema fields become
empty panels that a save never sends); so these are Zenoss's classes, as CommandAction's
form (Products/Zuul/interfaces/actions.py) uses.
"""

from Products.Zuul.form import schema
from Products.Zuul.interfaces.actions import IActionContentInfo
from Products.Zuul.utils import ZuulMessageFactory as _t


class IZenticketActionContentInfo(IActionContentInfo):

    config = schema.TextLine(
        title=_t(u'zenticket.conf'),
        description=_t(u'The config the hook reads (empty: $ZENHOME/etc/zenticket.conf; '
                       u'on Control Center /var/zenoss/zenticket/zenticket.conf).'),
        default=u'',
        required=False,
    )

    action_timeout = schema.Int(
        title=_t(u'Timeout (seconds)'),
        description=_t(u'zenticket-hook is killed after this long; sweep finishes its work.'),
        default=60,
    )
