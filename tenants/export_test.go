package tenants

// FailAt makes CreateTenant fail at the named step ("catalog" or
// "provisioned"), for tests that prove creation is all-or-nothing.
func (s *Service) FailAt(step string) { s.failAt = step }
