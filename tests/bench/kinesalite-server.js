// Starts kinesalite on one address only (its own CLI listens on every interface), with no
// create/delete/update delays and a shard limit high enough for the benchmark's streams.
'use strict'
const kinesalite = require('kinesalite')

const port = Number(process.argv[2] || 4567)
const host = process.argv[3] || '127.0.0.1'
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 })
server.listen(port, host, () => console.log(`kinesalite listening at http://${host}:${port}`))
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)))
