from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """100 a page; ?page_size= is clamped to 1..500 rather than refused."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            return self.page_size
        return max(1, min(self.max_page_size, value))
