package tenants

import "gorm.io/gorm"

// FailAt makes CreateTenant fail at the named step ("catalog" or
// "provisioned"), for tests that prove creation is all-or-nothing.
func (s *Service) FailAt(step string) { s.failAt = step }

// HandleCacheForTest wraps the resolver's handle cache for tests.
type HandleCacheForTest struct{ c *handleCache }

// NewHandleCacheForTest returns a handle cache of size max.
func NewHandleCacheForTest(max int) HandleCacheForTest {
	return HandleCacheForTest{newHandleCache(max)}
}

// Get looks schema up, calling built on a miss.
func (h HandleCacheForTest) Get(schema string, built func()) {
	h.c.get(schema, func() *gorm.DB { built(); return nil })
}
