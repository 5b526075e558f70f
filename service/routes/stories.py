"""The story feed and single stories (JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.deps import SettingsDep, StoriesDep
from service.errors import InvalidInput
from service.models import StoryOut, StoryPage

router = APIRouter(tags=["stories"])


@router.get("/stories", response_model=StoryPage)
def list_stories(
    stories: StoriesDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="Page size")] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> StoryPage:
    """Stories, most recently updated first, a page at a time."""
    limit = limit or settings.page_limit_default
    if limit > settings.page_limit_max:
        raise InvalidInput(f"limit is at most {settings.page_limit_max}", field="limit")
    return stories.page(limit, cursor)


@router.get("/stories/{story_id}", response_model=StoryOut)
def get_story(story_id: Annotated[str, Path(max_length=64)], stories: StoriesDep) -> StoryOut:
    """One story: its articles and its cited summary."""
    return stories.story(story_id)
