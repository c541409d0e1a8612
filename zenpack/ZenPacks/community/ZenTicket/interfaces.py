"""The form the notification editor shows for the `zenticket` action."""

from zope import schema

from Products.Zuul.interfaces.actions import IActionContentInfo
from Products.Zuul.utils import ZuulMessageFactory as _t


class IZenticketActionContentInfo(IActionContentInfo):

    config = schema.TextLine(
        title=_t(u'zenticket.conf'),
        description=_t(u'The config the hook reads (empty: $ZENHOME/etc/zenticket.conf).'),
        default=u'',
        required=False,
    )

    action_timeout = schema.Int(
        title=_t(u'Timeout (seconds)'),
        description=_t(u'zenticket-hook is killed after this long; sweep finishes its work.'),
        default=60,
    )
