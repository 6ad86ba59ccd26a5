package webhookingress

import (
	"context"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// redisLogger sends go-redis's own messages ("failed to dial" while Redis
// is down) to Caddy's log instead of the standard logger.
type redisLogger struct{}

func (redisLogger) Printf(_ context.Context, format string, v ...any) {
	caddy.Log().Named("webhook_ingress.redis").Warn(fmt.Sprintf(format, v...))
}

var setRedisLogger sync.Once

func useCaddyLogForRedis() {
	setRedisLogger.Do(func() { redis.SetLogger(redisLogger{}) })
}
