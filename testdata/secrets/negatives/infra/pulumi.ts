const cfg = new pulumi.Config();
const dbPassword = cfg.requireSecret("dbPassword");
const apiToken = cfg.requireSecret("apiToken");
const db = new aws.rds.Instance("db", { username: "app", password: dbPassword });
