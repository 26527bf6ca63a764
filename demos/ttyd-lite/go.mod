module diffuapriel.local/demos/ttyd-lite

go 1.26

require (
	github.com/creack/pty v1.1.24
	github.com/gorilla/websocket v1.5.3
)
