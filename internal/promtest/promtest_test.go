package promtest_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/promtest"
)

func TestSeries(t *testing.T) {
	start := time.Unix(1700000000, 500*int64(time.Millisecond))
	tests := []struct {
		name   string
		labels map[string]string
		values []float64
		want   string
	}{
		{"no labels", nil, []float64{1, 2.5}, "m 1 1700000000.5\nm 2.5 1700000060.5\n"},
		{"sorted escaped labels", map[string]string{"z": "1", "a": `q"\` + "\n"}, []float64{0.9},
			`m{a="q\"\\\n",z="1"} 0.9 1700000000.5` + "\n"},
		{"special values", nil, []float64{math.NaN(), math.Inf(1), math.Inf(-1)},
			"m NaN 1700000000.5\nm +Inf 1700000060.5\nm -Inf 1700000120.5\n"},
		{"empty", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, promtest.Series("m", tt.labels, start, time.Minute, tt.values...))
		})
	}
}

// TestStart checks that the blocks promtool builds are served: every sample
// written is returned by query_range at its own timestamp.
func TestStart(t *testing.T) {
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	values := make([]float64, 3*60+1) // 3h at 1m, across several 2h block boundaries
	for i := range values {
		values[i] = float64(i)
	}
	om := "# TYPE up_test gauge\n" + promtest.Series("up_test", map[string]string{"job": "a"}, start, time.Minute, values...)
	s := promtest.Run(t, om)
	t.Logf("started in %s", s.Started)

	q := url.Values{
		"query": {"up_test"},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(start.Add(3*time.Hour).Unix(), 10)},
		"step":  {"60"},
	}
	resp, err := http.Get(s.URL + "/api/v1/query_range?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Values [][2]any
			}
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "success", body.Status)
	require.Len(t, body.Data.Result, 1)
	assert.Equal(t, map[string]string{"__name__": "up_test", "job": "a"}, body.Data.Result[0].Metric)
	got := body.Data.Result[0].Values
	require.Len(t, got, len(values))
	for i, v := range got {
		assert.Equal(t, float64(start.Add(time.Duration(i)*time.Minute).Unix()), v[0])
		assert.Equal(t, strconv.Itoa(i), v[1])
	}

	s.Stop()
	s.Stop() // idempotent
	_, err = http.Get(s.URL + "/-/ready")
	assert.Error(t, err, "server still answers after Stop")
}

func TestStartEmpty(t *testing.T) {
	u := promtest.Start(t, "")
	resp, err := http.Get(u + "/-/ready")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
