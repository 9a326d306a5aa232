"""The WeCom, 公众号, 小程序 and SMS channels: settings, callbacks, sync, 渠道活码, customer groups and sending."""
