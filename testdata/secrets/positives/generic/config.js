module.exports = {
  port: 3000,
  sessionSecret: 'GxdUqc0DD5XoIKB0XqZ9JTQtxzZCcs2J',
  stripe: { webhookSecret: 'whsec_IgijozpCOagnuSq6WYrpBiA4RfRy4mv3' },
};
