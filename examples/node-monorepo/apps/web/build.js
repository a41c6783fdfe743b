const fs = require("fs");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/server.js", "require(\"http\").createServer((q, r) => r.end(\"web\")).listen(8080);\n");
