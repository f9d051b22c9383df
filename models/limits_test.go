package models_test

import (
	"sync"
	"testing"

	"github.com/strictmt/strictmt/models"
	"gorm.io/gorm/schema"
)

// TestLimitsMatchTheColumns: the limits the API enforces are the sizes
// the GORM models give their columns.
func TestLimitsMatchTheColumns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		model any
		field string
		want  int
	}{
		{&models.User{}, "Username", models.MaxUsernameLen},
		{&models.User{}, "Email", models.MaxEmailLen},
		{&models.Todo{}, "Title", models.MaxTitleLen},
		{&models.Project{}, "Name", models.MaxProjectNameLen},
	} {
		s, err := schema.Parse(c.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		size := -1
		if f := s.LookUpField(c.field); f != nil {
			size = f.Size
		}
		if size != c.want {
			t.Errorf("%s.%s: column size %d, the API's limit is %d", s.Name, c.field, size, c.want)
		}
	}
}
