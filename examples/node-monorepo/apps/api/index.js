require("http").createServer((req, res) => res.end("api")).listen(3000);
