// A tiny HTTP server.
const http = require("http");

const PORT = process.env.PORT || 8080;

const server = http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  __FILL_1__
});

server.listen(PORT, () => {
  console.log(`listening on ${PORT}`);
});
